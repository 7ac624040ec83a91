// Aedes in this test process on a loopback port: a broker that is not Petrel, for the generator's tests.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

export interface InProcessAedes {
  port: number;
  close(): Promise<void>;
}

export async function startAedes(): Promise<InProcessAedes> {
  const broker = await Aedes.createBroker();
  // Without Nagle's delay, as Petrel and Mosquitto send in the benchmarks.
  const server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('Aedes listener has no address');
  return {
    port: address.port,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
