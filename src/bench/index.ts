// Public API of the load generator, for bench:compare and other scripts.
export { runConn, connDefaults, CONNECTIONS_PER_PROCESS, type ConnOptions, type ConnProgress, type ConnSummary } from './conn.js';
export { runFanin, runFanout, runLatency, runP2p, runPub, runSub, resolveTrafficOptions, type TrafficInput } from './scenarios.js';
export { trafficDefaults, type TrafficOptions, type TrafficProgress, type TrafficSummary } from './traffic-types.js';
export { formatConnSummary, formatTrafficSummary, connProgressLine, trafficProgressLine } from './report.js';
export { processCpuSeconds, processRssBytes, totalRssBytes } from './broker-memory.js';
export { BenchError } from './bench-error.js';
