// setTimeout caps delays at 2^31-1 ms (about 24.8 days); session expiry may be up to 136 years.

const MAX_DELAY = 0x7fffffff;

export interface LongTimer {
  cancel(): void;
}

export function setLongTimeout(delayMs: number, callback: () => void): LongTimer {
  let timer: NodeJS.Timeout;
  const deadline = Date.now() + delayMs;
  const arm = (remaining: number): void => {
    timer = setTimeout(() => {
      const left = deadline - Date.now();
      if (left > 0) arm(left);
      else callback();
    }, Math.min(Math.max(remaining, 0), MAX_DELAY));
    // Session clocks never keep the process alive on their own (listeners and sockets do).
    timer.unref();
  };
  arm(delayMs);
  return {
    cancel: () => clearTimeout(timer),
  };
}
