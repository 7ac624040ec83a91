// Aedes on a plain TCP listener, for bench:compare: `node dist/bench/aedes-server.js <port>`.
// Prints "listening <port>" once ready; SIGTERM closes it.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2] ?? 1883);
const aedes = await Aedes.createBroker();
// Petrel's listener and Mosquitto (set_tcp_nodelay in bench:compare) send without Nagle's delay; so must Aedes,
// or a small delivery waits for the subscriber's delayed ACK (40 ms on Linux) and latency compares Nagle, not brokers.
const server = createServer({ noDelay: true }, aedes.handle);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  aedes.close(() => process.exit(0));
});
