// Broker memory as the kernel sees it: resident set size of each broker process.
import { readFile } from 'node:fs/promises';

/** VmRSS of one process in bytes, from /proc/<pid>/status. */
export async function processRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (match === null || match[1] === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Summed RSS of several processes (a multi-process broker). */
export async function totalRssBytes(pids: readonly number[]): Promise<number> {
  const sizes = await Promise.all(pids.map((pid) => processRssBytes(pid)));
  return sizes.reduce((sum, size) => sum + size, 0);
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc/<pid>/stat. */
export async function processCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces; fields after the closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  return (user + system) / 100; // USER_HZ is 100 on Linux
}

export function parsePidList(spec: string): number[] {
  const pids = spec.split(',').map((item) => Number(item.trim()));
  if (pids.length === 0 || pids.some((pid) => !Number.isInteger(pid) || pid <= 0)) {
    throw new RangeError(`invalid PID list '${spec}'`);
  }
  return pids;
}
