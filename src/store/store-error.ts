// The error a store throws when its data directory cannot be used: start-up must
// stop with the path and the cause, never continue with an empty state.

export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly path: string;

  constructor(path: string, reason: string, cause?: unknown) {
    const detail = cause instanceof Error ? `: ${cause.message}` : cause === undefined ? '' : `: ${String(cause)}`;
    super(`data store at ${path}: ${reason}${detail}`, cause === undefined ? undefined : { cause });
    this.path = path;
  }
}
