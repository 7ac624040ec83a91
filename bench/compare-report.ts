// Turns bench:compare's results into the Markdown section of BENCHMARKS.md, and swaps that
// section into the file without touching the others.
import { readFileSync, writeFileSync } from 'node:fs';
import type { ConnSummary, TrafficSummary } from '../src/bench/index.js';

export const SECTION_TITLE = '## Side-by-side: Petrel vs Mosquitto vs Aedes';

/** Every round of one scenario on one broker. */
export interface CellResults {
  traffic: TrafficSummary[];
  idle: ConnSummary[];
  errors: string[];
}

export interface ViewResults {
  title: string;
  description: string;
  brokers: string[];
  /** Brokers that could not run in this view, with the reason. */
  unavailable: { label: string; reason: string }[];
  /** scenario name -> broker label -> results */
  cells: Map<string, Map<string, CellResults>>;
  scenarioKinds: Map<string, 'throughput' | 'latency' | 'idle'>;
  loadAverages: number[];
}

export function emptyCell(): CellResults {
  return { traffic: [], idle: [], errors: [] };
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function compact(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(0);
}

function milliseconds(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function deliveredRate(cell: CellResults | undefined): number {
  return median((cell?.traffic ?? []).map((summary) => summary.throughput.deliveredPerSecond));
}

/** Delivered messages per CPU-second of the broker (median over rounds). */
export function deliveredPerCpuSecond(cell: CellResults | undefined): number {
  return median(
    (cell?.traffic ?? []).map((summary) => {
      const cpu = summary.broker?.cpuPercent ?? 0;
      return cpu > 0 ? summary.throughput.deliveredPerSecond / (cpu / 100) : Number.NaN;
    }),
  );
}

function throughputCell(cell: CellResults | undefined): string {
  if (cell === undefined || cell.traffic.length === 0) return cell?.errors[0] !== undefined ? `failed: ${cell.errors[0]}` : '–';
  const rate = deliveredRate(cell);
  const cpu = median(cell.traffic.map((summary) => summary.broker?.cpuPercent ?? Number.NaN));
  const lost = median(cell.traffic.map((summary) => summary.messages.lost));
  const lostNote = lost > 0 ? `, lost ${compact(lost)}` : '';
  return `${compact(rate)} (${Number.isFinite(cpu) ? cpu.toFixed(0) : '?'}%${lostNote})`;
}

export function latencyOf(cell: CellResults | undefined): { p50: number; p99: number; p999: number } {
  const rounds = cell?.traffic ?? [];
  return {
    p50: median(rounds.map((summary) => summary.latency.p50Ms)),
    p99: median(rounds.map((summary) => summary.latency.p99Ms)),
    p999: median(rounds.map((summary) => summary.latency.p999Ms)),
  };
}

function latencyCell(cell: CellResults | undefined): string {
  if (cell === undefined || cell.traffic.length === 0) return cell?.errors[0] !== undefined ? `failed: ${cell.errors[0]}` : '–';
  const { p50, p99, p999 } = latencyOf(cell);
  const lost = median(cell.traffic.map((summary) => summary.messages.lost));
  // Summaries from before these fields existed have neither: those cells show what they have.
  const scheduledP99 = median(cell.traffic.map((summary) => summary.latencyFromSchedule?.p99Ms ?? Number.NaN));
  const brokerWait = median(cell.traffic.map((summary) => summary.broker?.runQueueWait?.waitPercent ?? Number.NaN));
  const generatorWait = median(cell.traffic.map((summary) => summary.generator.runQueueWait?.waitPercent ?? Number.NaN));
  const extra = [
    Number.isFinite(scheduledP99) ? `scheduled p99 ${milliseconds(scheduledP99)}` : '',
    Number.isFinite(brokerWait) && Number.isFinite(generatorWait) ? `CPU wait ${brokerWait.toFixed(1)}% / ${generatorWait.toFixed(1)}%` : '',
    lost > 0 ? `lost ${compact(lost)}` : '',
  ].filter((part) => part !== '');
  return `${milliseconds(p50)} / ${milliseconds(p99)} / ${milliseconds(p999)}${extra.length > 0 ? ` (${extra.join('; ')})` : ''}`;
}

function ratio(numerator: number, denominator: number): string {
  if (!Number.isFinite(numerator) || !Number.isFinite(denominator) || denominator <= 0) return '–';
  return `${(numerator / denominator).toFixed(2)}x`;
}

export interface IdleFigures {
  connected: number;
  attempted: number;
  connectsPerSecond: number;
  bytesPerConnection: number;
  rssHeldBytes: number;
  /** Failed attempts and drops during the hold, by reason (first round). */
  failures: string;
}

function failureText(summary: ConnSummary): string {
  const reasons = { ...summary.connections.failureReasons };
  for (const [reason, count] of Object.entries(summary.connections.dropReasons)) reasons[`dropped: ${reason}`] = count;
  const parts = Object.entries(reasons).sort((a, b) => b[1] - a[1]).map(([reason, count]) => `${count.toLocaleString('en-US')} ${reason}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

export function idleFigures(cell: CellResults | undefined): IdleFigures | null {
  const rounds = cell?.idle ?? [];
  if (rounds.length === 0) return null;
  return {
    connected: median(rounds.map((summary) => summary.connections.openAfterHold)),
    attempted: median(rounds.map((summary) => summary.connections.attempted)),
    connectsPerSecond: median(rounds.map((summary) => summary.connections.connectsPerSecond)),
    bytesPerConnection: median(rounds.map((summary) => summary.broker?.bytesPerConnection ?? Number.NaN)),
    rssHeldBytes: median(rounds.map((summary) => summary.broker?.rssHeldBytes ?? Number.NaN)),
    failures: failureText(rounds[0]!),
  };
}

function viewTables(view: ViewResults): string[] {
  const lines: string[] = [`### ${view.title}`, '', view.description, ''];
  lines.push(`Load average during this view (1-minute, sampled per scenario): ${view.loadAverages.map((value) => value.toFixed(1)).join(', ')}.`, '');
  for (const { label, reason } of view.unavailable) lines.push(`**${label}: not measured** — ${reason}`, '');
  const [petrel] = view.brokers.filter((label) => label.startsWith('petrel'));
  const others = view.brokers.filter((label) => !label.startsWith('petrel'));
  const ratioHeads = petrel === undefined ? [] : others.map((label) => `${petrel} / ${label}`);

  const throughputRows = [...view.scenarioKinds].filter(([, kind]) => kind === 'throughput').map(([name]) => name);
  if (throughputRows.length > 0) {
    lines.push('Delivered messages per second (broker CPU, % of one core, during sending; messages lost, if any):', '');
    lines.push(`| scenario | ${[...view.brokers, ...ratioHeads].join(' | ')} |`);
    lines.push(`|---|${[...view.brokers, ...ratioHeads].map(() => '---:').join('|')}|`);
    for (const name of throughputRows) {
      const row = view.cells.get(name);
      const cells = view.brokers.map((label) => throughputCell(row?.get(label)));
      const ratios = petrel === undefined ? [] : others.map((label) => ratio(deliveredRate(row?.get(petrel)), deliveredRate(row?.get(label))));
      lines.push(`| ${name} | ${[...cells, ...ratios].join(' | ')} |`);
    }
    lines.push('');
    lines.push(
      'The same runs, per CPU-second of the broker (delivered messages ÷ broker CPU seconds, all its processes): ' +
        'what each broker does with the CPU it actually got, which other work on the machine does not distort as much:',
      '',
    );
    lines.push(`| scenario | ${[...view.brokers, ...ratioHeads].join(' | ')} |`);
    lines.push(`|---|${[...view.brokers, ...ratioHeads].map(() => '---:').join('|')}|`);
    for (const name of throughputRows) {
      const row = view.cells.get(name);
      const cells = view.brokers.map((label) => compact(deliveredPerCpuSecond(row?.get(label))));
      const ratios = petrel === undefined ? [] : others.map((label) => ratio(deliveredPerCpuSecond(row?.get(petrel)), deliveredPerCpuSecond(row?.get(label))));
      lines.push(`| ${name} | ${[...cells, ...ratios].join(' | ')} |`);
    }
    lines.push('');
  }

  const latencyRows = [...view.scenarioKinds].filter(([, kind]) => kind === 'latency').map(([name]) => name);
  if (latencyRows.length > 0) {
    lines.push(
      'Latency, publisher to subscriber, one pair at a fixed rate, after a 5 s warm-up: p50 / p99 / p99.9 in ms from the send time',
      "stamped at the socket write; in brackets, p99 from when the fixed rate made each message due (adds the generator's lateness), and",
      'the share of the run the broker / generator main thread spent runnable but waiting for a CPU (other load on its core):',
      '',
    );
    lines.push(`| scenario | ${view.brokers.join(' | ')} |`);
    lines.push(`|---|${view.brokers.map(() => '---:').join('|')}|`);
    for (const name of latencyRows) {
      const row = view.cells.get(name);
      lines.push(`| ${name} | ${view.brokers.map((label) => latencyCell(row?.get(label))).join(' | ')} |`);
    }
    lines.push('');
  }

  const idleRows = [...view.scenarioKinds].filter(([, kind]) => kind === 'idle').map(([name]) => name);
  for (const name of idleRows) {
    lines.push(`${name[0]?.toUpperCase() ?? ""}${name.slice(1)}: connections still open after the hold / attempted, connect rate, broker RSS while holding (all its processes), RSS growth per connection:`, '');
    lines.push('| broker | held / attempted | connects/s | broker RSS | bytes per connection | failures |');
    lines.push('|---|---:|---:|---:|---:|---|');
    const row = view.cells.get(name);
    for (const label of view.brokers) {
      const cell = row?.get(label);
      const figures = idleFigures(cell);
      if (figures === null) {
        lines.push(`| ${label} | ${cell?.errors[0] !== undefined ? `failed: ${cell.errors[0]}` : '–'} | | | | |`);
        continue;
      }
      const mib = (figures.rssHeldBytes / 2 ** 20).toFixed(0);
      lines.push(`| ${label} | ${compact(figures.connected)} / ${compact(figures.attempted)} | ${compact(figures.connectsPerSecond)} | ${mib} MiB | ${(figures.bytesPerConnection / 1024).toFixed(2)} KB | ${figures.failures} |`);
    }
    lines.push('');
  }
  return lines;
}

export interface ReportInput {
  heading: string[];
  views: ViewResults[];
  targets: string[];
  footer: string[];
}

export function renderSection(input: ReportInput): string {
  const lines = [SECTION_TITLE, '', ...input.heading, ''];
  for (const view of input.views) lines.push(...viewTables(view));
  if (input.targets.length > 0) lines.push('### Targets', '', ...input.targets, '');
  lines.push(...input.footer);
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Replaces this section (from its title to the next `## ` heading) or appends it. */
export function writeSection(file: string, section: string): void {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '# Benchmarks\n';
  }
  const start = text.indexOf(`${SECTION_TITLE}\n`);
  if (start < 0) {
    writeFileSync(file, `${text.trimEnd()}\n\n${section}`);
    return;
  }
  const next = text.indexOf('\n## ', start + SECTION_TITLE.length);
  const rest = next < 0 ? '' : `\n${text.slice(next + 1)}`;
  writeFileSync(file, `${text.slice(0, start)}${section}${rest}`);
}
