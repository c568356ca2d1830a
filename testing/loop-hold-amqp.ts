/**
 * How long one large AMQP method holds the broker's event loop: an in-process broker (memory storage),
 * amqplib encoding and writing each method before the measure starts (its calls write synchronously),
 * the loop's longest delay until the answer (`monitorEventLoopDelay`). Not a test:
 * `node dist/testing/loop-hold-amqp.js [entries]`, entries per field table.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import amqp from 'amqplib';
import { startTestBroker } from './broker.js';

const count = Number(process.argv[2] ?? 15_000);
const histogram = monitorEventLoopDelay({ resolution: 5 });
const table = () => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]));

async function held(name: string, act: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  const pending = act();
  histogram.reset();
  let outcome = 'answered';
  try {
    await pending;
  } catch (e) {
    outcome = `failed: ${(e as Error).message.slice(0, 80)}`;
  }
  const tookMs = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(
    `${name} ×${count}: loop held ${(histogram.max / 1e6).toFixed(0)} ms, ${outcome} in ${tookMs.toFixed(0)} ms`,
  );
}

async function main(): Promise<void> {
  const server = await startTestBroker({ listeners: ['amqp'] });
  const conn = await amqp.connect(server.url('amqp'));
  histogram.enable();
  for (let run = 0; run < 2; run++) {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('hold', { durable: false });
    await held('publish headers', async () => {
      ch.publish('', 'hold', Buffer.from('x'), { headers: table() });
      await ch.waitForConfirms();
    });
    await held('get with headers', () => ch.get('hold', { noAck: true }));
    await held('queue.declare arguments', () => ch.assertQueue(`hold-args-${run}`, { arguments: table() }));
    await held('publish 64 MiB body', async () => {
      ch.publish('', 'hold', Buffer.alloc(64 * 1024 * 1024));
      await ch.waitForConfirms();
    });
    await ch.close().catch(() => undefined);
  }
  histogram.disable();
  await conn.close();
  await server.stop();
}

await main();
