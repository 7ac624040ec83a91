// `petrel bench ...`: the load generator's command line. Each subcommand maps its
// flags onto one scenario function and prints the summary (text, or --json).
import { type Command, InvalidArgumentError, Option } from 'commander';
import { errorReason } from './bench-error.js';
import { parsePidList } from './broker-memory.js';
import { connDefaults, runConn } from './conn.js';
import { parseLocalAddresses } from './local-addresses.js';
import { connProgressLine, formatConnSummary, formatTrafficSummary, trafficProgressLine } from './report.js';
import { runFanin, runFanout, runLatency, runP2p, runPub, runSub, type TrafficInput } from './scenarios.js';
import type { TrafficSummary } from './traffic-types.js';

interface CommonFlags {
  host: string;
  port: number;
  protocol: 4 | 5;
  username?: string;
  password?: string;
  keepalive?: number;
  clientIdPrefix?: string;
  localAddresses?: string[];
  brokerPid?: number[];
  json?: boolean;
  quiet?: boolean;
}

interface TrafficFlags extends CommonFlags {
  clients?: number;
  publishers?: number;
  subscribers?: number;
  qos: 0 | 1 | 2;
  size: number;
  topic?: string;
  rate?: number;
  inflight: number;
  maxBacklog: number;
  duration: number;
  warmup: number;
  startIndex: number;
  drain: number;
}

interface ConnFlags extends CommonFlags {
  clients: number;
  rate: number;
  hold: number;
  processes?: number;
  connectTimeout: number;
}

function integerArgument(minimum: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < minimum) throw new InvalidArgumentError(`expected an integer >= ${minimum}`);
    return parsed;
  };
}

function numberArgument(minimum: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < minimum) throw new InvalidArgumentError(`expected a number >= ${minimum}`);
    return parsed;
  };
}

function choiceArgument<T extends number>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    const parsed = Number(value) as T;
    if (!choices.includes(parsed)) throw new InvalidArgumentError(`expected one of ${choices.join(', ')}`);
    return parsed;
  };
}

function wrapParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
  };
}

function addCommonOptions(command: Command): Command {
  return command
    .option('--host <host>', 'broker host', '127.0.0.1')
    .option('-p, --port <port>', 'broker port', integerArgument(1), 1883)
    .addOption(new Option('--protocol <version>', 'MQTT protocol level: 4 = 3.1.1, 5 = 5.0').argParser(choiceArgument([4, 5] as const)).default(4))
    .option('-u, --username <name>', 'username for CONNECT')
    .option('-P, --password <password>', 'password for CONNECT')
    .option('--keepalive <seconds>', 'MQTT keepalive (the tool pings idle clients)', integerArgument(0))
    .option('--client-id-prefix <prefix>', 'client id prefix (default unique per run)')
    .option('--local-addresses <list>', 'source addresses to spread connections over, e.g. 127.0.0.1-127.0.0.8', wrapParser(parseLocalAddresses))
    .option('--broker-pid <pids>', 'broker process id(s), comma-separated: report their CPU and memory', wrapParser(parsePidList))
    .option('--json', 'print one JSON summary object on stdout')
    .option('--quiet', 'no progress lines on stderr');
}

function addTrafficOptions(command: Command, topicHelp: string): Command {
  return addCommonOptions(command)
    .addOption(new Option('-q, --qos <qos>', 'QoS of publishes and subscriptions').argParser(choiceArgument([0, 1, 2] as const)).default(0))
    .option('-s, --size <bytes>', 'payload size (at least 20: publisher id, sequence, timestamp)', integerArgument(20), 64)
    .option('-t, --topic <pattern>', `${topicHelp}; %i = client index`)
    .option('-r, --rate <msgs>', 'total messages per second over all publishers (0 = as fast as possible)', numberArgument(0))
    .option('--inflight <n>', 'unacknowledged QoS 1/2 messages per publisher', integerArgument(1), 100)
    .option('--max-backlog <n>', 'deliveries allowed in flight at once, shared by the publishers (fanin/fanout/p2p/latency; 0 = pure flood)', integerArgument(0), 10_000)
    .option('-d, --duration <seconds>', 'how long to publish', numberArgument(0.001), 10)
    .option('--warmup <seconds>', 'publish this long first without timing those messages (latency figures only; counts include them)', numberArgument(0), 0)
    .option('--start-index <n>', 'index of the first client (%i, client ids, publisher ids)', integerArgument(0), 0)
    .option('--drain <seconds>', 'after publishing, wait this long at most for outstanding messages', numberArgument(0), 5);
}

function trafficInput(flags: TrafficFlags, signal: AbortSignal, quiet: boolean): TrafficInput {
  return {
    host: flags.host,
    port: flags.port,
    protocolVersion: flags.protocol,
    qos: flags.qos,
    size: flags.size,
    inflight: flags.inflight,
    maxBacklog: flags.maxBacklog,
    durationSeconds: flags.duration,
    warmupSeconds: flags.warmup,
    startIndex: flags.startIndex,
    drainSeconds: flags.drain,
    signal,
    ...(flags.rate === undefined ? {} : { rate: flags.rate }),
    ...(flags.username === undefined ? {} : { username: flags.username }),
    ...(flags.password === undefined ? {} : { password: flags.password }),
    ...(flags.keepalive === undefined ? {} : { keepalive: flags.keepalive }),
    ...(flags.clientIdPrefix === undefined ? {} : { clientIdPrefix: flags.clientIdPrefix }),
    ...(flags.localAddresses === undefined ? {} : { localAddresses: flags.localAddresses }),
    ...(flags.brokerPid === undefined ? {} : { brokerPids: flags.brokerPid }),
    ...(quiet ? {} : { onProgress: (progress) => process.stderr.write(`${trafficProgressLine(progress)}\n`) }),
  };
}

/** Run with Ctrl-C stopping the run early (the summary still prints); a failure prints its reason and exits 1. */
async function runReporting<T>(flags: CommonFlags, run: (signal: AbortSignal) => Promise<T>, format: (summary: T) => string): Promise<void> {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  try {
    const summary = await run(controller.signal);
    process.stdout.write(flags.json === true ? `${JSON.stringify(summary)}\n` : `${format(summary)}\n`);
  } catch (error) {
    process.stderr.write(`petrel bench: ${error instanceof Error ? error.message : String(error)} (${errorReason(error)})\n`);
    process.exitCode = 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
  }
}

function registerTraffic(
  bench: Command,
  name: string,
  description: string,
  topicHelp: string,
  run: (flags: TrafficFlags, input: TrafficInput) => Promise<TrafficSummary>,
): void {
  const command = bench.command(name).description(description);
  addTrafficOptions(command, topicHelp)
    .option('-c, --clients <n>', 'number of clients (pairs for p2p/latency)', integerArgument(1))
    .option('--publishers <n>', 'number of publishers (fanin)', integerArgument(1))
    .option('--subscribers <n>', 'number of subscribers (fanout)', integerArgument(1))
    .action(async (flags: TrafficFlags) => {
      await runReporting(
        flags,
        (signal) => run(flags, trafficInput(flags, signal, flags.quiet === true)),
        formatTrafficSummary,
      );
    });
}

export function registerBenchCommand(program: Command): void {
  const bench = program
    .command('bench')
    .description('load generator for any MQTT broker: connections, throughput, latency');

  registerTraffic(bench, 'pub', 'publishers only: -c clients publishing to the topic pattern', 'topic (default bench/%i)', (flags, input) =>
    runPub({ ...input, ...(flags.clients === undefined ? {} : { clients: flags.clients }), ...(flags.topic === undefined ? {} : { topic: flags.topic }) }),
  );
  registerTraffic(bench, 'sub', 'subscribers only: -c clients subscribed to the filter; reports what arrives', 'filter (default bench/#)', (flags, input) =>
    runSub({ ...input, ...(flags.clients === undefined ? {} : { clients: flags.clients }), ...(flags.topic === undefined ? {} : { topic: flags.topic }) }),
  );
  registerTraffic(bench, 'fanin', 'N publishers -> 1 subscriber (subscribes with + in place of %i)', 'topic (default bench/fanin/%i)', (flags, input) => {
    const publishers = flags.publishers ?? flags.clients;
    return runFanin({ ...input, ...(publishers === undefined ? {} : { publishers }), ...(flags.topic === undefined ? {} : { topic: flags.topic }) });
  });
  registerTraffic(bench, 'fanout', '1 publisher -> N subscribers on one topic', 'topic (default bench/fanout/%i)', (flags, input) => {
    const subscribers = flags.subscribers ?? flags.clients;
    return runFanout({ ...input, ...(subscribers === undefined ? {} : { subscribers }), ...(flags.topic === undefined ? {} : { topic: flags.topic }) });
  });
  registerTraffic(bench, 'p2p', 'N publisher/subscriber pairs, each pair on its own topic', 'topic (default bench/p2p/%i)', (flags, input) =>
    runP2p({ ...input, ...(flags.clients === undefined ? {} : { pairs: flags.clients }), ...(flags.topic === undefined ? {} : { topic: flags.topic }) }),
  );
  registerTraffic(bench, 'latency', 'latency at a fixed total rate (default 5000 msg/s) over N pairs (default 1)', 'topic (default bench/latency/%i)', (flags, input) =>
    runLatency({ ...input, ...(flags.clients === undefined ? {} : { pairs: flags.clients }), ...(flags.topic === undefined ? {} : { topic: flags.topic }) }),
  );

  const conn = bench.command('conn').description('open N idle connections at a rate, hold them, report connect rate, failures and broker memory');
  addCommonOptions(conn)
    .requiredOption('-c, --clients <n>', 'number of connections', integerArgument(1))
    .option('-r, --rate <n>', 'connection attempts per second (0 = as fast as possible)', numberArgument(0), connDefaults.rate)
    .option('--hold <seconds>', 'how long to hold the connections', numberArgument(0), connDefaults.holdSeconds)
    .option('--processes <n>', 'worker processes (default: enough for 18,000 connections each)', integerArgument(1))
    .option('--connect-timeout <ms>', 'give up on a connection without CONNACK after this long', integerArgument(1), connDefaults.connectTimeoutMs)
    .action(async (flags: ConnFlags) => {
      const quiet = flags.quiet === true;
      await runReporting(
        flags,
        (signal) =>
          runConn({
            host: flags.host,
            port: flags.port,
            protocolVersion: flags.protocol,
            clients: flags.clients,
            rate: flags.rate,
            holdSeconds: flags.hold,
            connectTimeoutMs: flags.connectTimeout,
            signal,
            ...(flags.processes === undefined ? {} : { processes: flags.processes }),
            ...(flags.localAddresses === undefined ? {} : { localAddresses: flags.localAddresses }),
            ...(flags.brokerPid === undefined ? {} : { brokerPids: flags.brokerPid }),
            ...(flags.keepalive === undefined ? {} : { keepalive: flags.keepalive }),
            ...(flags.username === undefined ? {} : { username: flags.username }),
            ...(flags.password === undefined ? {} : { password: flags.password }),
            ...(flags.clientIdPrefix === undefined ? {} : { clientIdPrefix: flags.clientIdPrefix }),
            ...(quiet ? {} : { onProgress: (progress) => process.stderr.write(`${connProgressLine(progress)}\n`) }),
          }),
        formatConnSummary,
      );
    });
}
