// `petrel bench` as a user runs it: a child process printing one JSON object.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { petrelArguments, repositoryRoot } from '../cli/petrel-process.js';
import { startMosquitto, type RunningMosquitto } from './mosquitto-broker.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runPetrel(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, petrelArguments(args), { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('petrel bench command line', () => {
  let broker: RunningMosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('fanin --json prints one summary object; progress goes to stderr', async () => {
    const result = await runPetrel(['bench', 'fanin', '--port', String(broker.port), '-c', '3', '-q', '1', '-d', '1.2', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'exactly one line on stdout');
    const summary = JSON.parse(lines[0] as string) as {
      scenario: string;
      settings: { publishers: number; subscribers: number; qos: number };
      messages: { sent: number; delivered: number; lost: number; outOfOrder: number };
      latency: { p50Ms: number; p999Ms: number; count: number };
      throughput: { sentPerSecond: number; deliveredPerSecond: number };
    };
    assert.equal(summary.scenario, 'fanin');
    assert.deepEqual([summary.settings.publishers, summary.settings.subscribers, summary.settings.qos], [3, 1, 1]);
    assert.ok(summary.messages.sent > 0);
    assert.equal(summary.messages.delivered, summary.messages.sent);
    assert.equal(summary.messages.lost, 0);
    assert.equal(summary.messages.outOfOrder, 0);
    assert.equal(summary.latency.count, summary.messages.delivered);
    assert.ok(summary.throughput.deliveredPerSecond > 0);
    assert.match(result.stderr, /\[\d+\.\ds\] connected 4 \| sent [\d,]+\/s \| recv [\d,]+\/s/);
  });

  test('conn prints a readable summary with the broker memory', async () => {
    const result = await runPetrel(['bench', 'conn', '--port', String(broker.port), '-c', '50', '--hold', '0.2', '--broker-pid', String(broker.pid), '--quiet']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /connected\s+50 of 50/);
    assert.match(result.stdout, /bytes per connection/);
    assert.equal(result.stderr, '');
  });

  test('a bad option value is a usage error', async () => {
    const result = await runPetrel(['bench', 'fanin', '--qos', '3']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /expected one of 0, 1, 2/);
  });

  test('an unreachable broker fails with the reason', async () => {
    const closed = await startMosquitto();
    const port = closed.port;
    await closed.stop();
    const result = await runPetrel(['bench', 'p2p', '--port', String(port), '-c', '2', '-d', '1', '--quiet']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ECONNREFUSED x4/);
  });
});
