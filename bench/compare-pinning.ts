// How a process of the per-core view is pinned: `taskset -c <core>`, and with BENCH_REALTIME=1
// also `chrt -r 10` (round-robin real-time priority), so that other work on a shared machine
// does not take the pinned core from the broker or the generator. Applied to every broker alike.

const realtime = process.env.BENCH_REALTIME === '1';

/** The command prefix that pins a process to `core` (empty when unpinned). */
export function pinPrefix(core: number | undefined): string[] {
  if (core === undefined) return [];
  return ['taskset', '-c', String(core), ...(realtime ? ['chrt', '-r', '10'] : [])];
}

/** For the report: how pinned processes were run. */
export function pinningNote(): string {
  return realtime ? ' Pinned processes ran at real-time priority (`chrt -r 10`, BENCH_REALTIME=1) so that other work on the machine could not take their core.' : '';
}
