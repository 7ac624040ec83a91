/** A failure with a short machine-friendly reason (e.g. 'ECONNREFUSED', 'connack-0x87'), counted per reason in summaries. */
export class BenchError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'BenchError';
  }
}

/** Short reason for any error thrown by sockets, the codec or the tool. */
export function errorReason(error: unknown): string {
  if (error instanceof BenchError) return error.reason;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return typeof code === 'string' ? code : error.message;
  }
  return String(error);
}

/** Count of failures per reason. */
export type ReasonCounts = Record<string, number>;

export function countReason(counts: ReasonCounts, reason: string, amount = 1): void {
  counts[reason] = (counts[reason] ?? 0) + amount;
}

export function mergeReasons(target: ReasonCounts, source: ReasonCounts): void {
  for (const [reason, count] of Object.entries(source)) countReason(target, reason, count);
}
