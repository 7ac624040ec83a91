// How long a process's main thread sat runnable but waiting for a CPU, from the kernel's
// scheduler statistics. On a shared machine this is what other processes' load costs a
// latency run: a broker or generator that waits 4 ms for the core adds 4 ms to whatever
// message it was about to handle, whatever the broker's code does.
import { readFile } from 'node:fs/promises';

export interface SchedulerSample {
  /** Nanoseconds spent on a CPU. */
  runNs: number;
  /** Nanoseconds spent runnable on a run queue, waiting for a CPU. */
  waitNs: number;
  /** Times the thread was given a CPU. */
  slices: number;
}

/**
 * /proc/<pid>/schedstat of the process's main thread (the one running Node's event loop or
 * Mosquitto's loop). Null where the kernel does not provide it (not Linux, or schedstats off).
 */
export async function readScheduler(pid: number): Promise<SchedulerSample | null> {
  try {
    const text = await readFile(`/proc/${pid}/schedstat`, 'utf8');
    const [run, wait, slices] = text.trim().split(/\s+/).map(Number);
    if (run === undefined || wait === undefined || slices === undefined || [run, wait, slices].some((value) => !Number.isFinite(value))) return null;
    return { runNs: run, waitNs: wait, slices };
  } catch {
    return null;
  }
}

export interface RunQueueWait {
  /** Milliseconds the main thread(s) waited for a CPU over the interval, summed. */
  waitMs: number;
  /** That wait as a percentage of the interval (per process, averaged over processes). */
  waitPercent: number;
}

/** Wait between two samples of the same processes (missing samples are skipped), over `seconds`. */
export function runQueueWait(before: (SchedulerSample | null)[], after: (SchedulerSample | null)[], seconds: number): RunQueueWait | null {
  let waitNs = 0;
  let processes = 0;
  for (let index = 0; index < before.length; index++) {
    const start = before[index];
    const end = after[index];
    if (start === null || start === undefined || end === null || end === undefined) continue;
    waitNs += end.waitNs - start.waitNs;
    processes++;
  }
  if (processes === 0 || !(seconds > 0)) return null;
  const waitMs = waitNs / 1e6;
  return { waitMs: Math.round(waitMs * 10) / 10, waitPercent: Math.round((waitMs / (seconds * 1000 * processes)) * 1000) / 10 };
}
