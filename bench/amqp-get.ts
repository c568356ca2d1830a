/**
 * `npm run bench -- amqp-get [gets]`: basic.get one at a time (amqplib, each awaited) on a durable
 * quorum queue and a durable classic one, without ack and with an ack per get, against the compiled
 * CLI (file storage, fsync always). Each loop gets what a confirmed fill put there (persistent, 256 B)
 * and reports the broker's CPU per get (user + system, /proc) beside gets per second: a figure that
 * holds up on a shared machine where rates do not.
 */
import { loadavg } from 'node:os';
import amqp from 'amqplib';
import { cpuUs, withSwitchyard } from './amqp.js';

const getsDefault = 10_000;
const getsMax = 1_000_000;
const bodyBytes = 256;
/** Publishes awaiting their confirm at once during a fill. */
const fillInFlightMax = 1_000;
const warmUpGetsMax = 2_000;

type QueueType = 'quorum' | 'classic';

interface GetResult {
  readonly type: QueueType;
  readonly ack: boolean;
  readonly perSecond: number;
  readonly cpuUsPerGet: number;
}

async function fill(ch: amqp.ConfirmChannel, queue: string, count: number): Promise<void> {
  const body = Buffer.alloc(bodyBytes, 1);
  for (let sent = 0; sent < count; ) {
    const batch = Math.min(fillInFlightMax, count - sent);
    for (let i = 0; i < batch; i++) ch.sendToQueue(queue, body, { persistent: true });
    await ch.waitForConfirms();
    sent += batch;
  }
}

async function getLoop(url: string, pid: number, type: QueueType, ack: boolean, gets: number) {
  // Without TCP_NODELAY an ack and the next get wait on the peer's delayed ACK: ~40 ms a get.
  const conn = await amqp.connect(url, { noDelay: true });
  const ch = await conn.createConfirmChannel();
  const queue = `bench.get.${type}.${ack ? 'ack' : 'noack'}`;
  const args = type === 'quorum' ? { arguments: { 'x-queue-type': 'quorum' } } : {};
  await ch.deleteQueue(queue);
  await ch.assertQueue(queue, { durable: true, ...args });
  await fill(ch, queue, gets);
  const cpuBefore = cpuUs(pid);
  const startMs = performance.now();
  for (let i = 0; i < gets; i++) {
    const m = await ch.get(queue, { noAck: !ack });
    if (m === false) throw new Error(`${queue} ran dry after ${i} gets`);
    if (ack) ch.ack(m);
  }
  const elapsedMs = performance.now() - startMs;
  const result: GetResult = {
    type,
    ack,
    perSecond: (gets * 1000) / elapsedMs,
    cpuUsPerGet: (cpuUs(pid) - cpuBefore) / gets,
  };
  await conn.close();
  return result;
}

export async function runAmqpGetBench(args: string[]): Promise<GetResult[]> {
  const gets = Number(args[0] ?? getsDefault);
  if (!Number.isSafeInteger(gets) || gets < 1 || gets > getsMax) throw new Error(`gets: 1–${getsMax}`);
  const results: GetResult[] = [];
  await withSwitchyard(async (url, pid) => {
    // Not reported: the first loop would otherwise also pay for the broker's warm-up (JIT, buffers).
    await getLoop(url, pid, 'classic', true, Math.min(gets, warmUpGetsMax));
    // Each quorum loop right after its classic twin, so a drift in the machine's load hits both.
    for (const ack of [false, true]) {
      for (const type of ['classic', 'quorum'] as const)
        results.push(await getLoop(url, pid, type, ack, gets));
    }
  });
  process.stdout.write(`load ${loadavg()[0]!.toFixed(2)}, ${gets} gets a loop\n`);
  process.stdout.write('| queue | ack | gets/s | broker CPU µs/get |\n| --- | --- | ---: | ---: |\n');
  for (const r of results) {
    const rate = Math.round(r.perSecond).toLocaleString('en-US');
    process.stdout.write(
      `| ${r.type} | ${r.ack ? 'each' : 'none'} | ${rate} | ${r.cpuUsPerGet.toFixed(1)} |\n`,
    );
  }
  return results;
}
