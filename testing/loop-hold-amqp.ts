/**
 * How long one large AMQP method holds the broker's event loop: an in-process broker (memory storage),
 * each method encoded and written before the measure starts, the loop's longest delay until the answer
 * (`monitorEventLoopDelay`). Not a test: `node dist/testing/loop-hold-amqp.js [entries]`, entries per
 * field table through amqplib (which refuses tables past 64 KiB); `node dist/testing/loop-hold-amqp.js
 * tables` sends the densest tables one 128 KiB frame holds from a raw client instead.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import amqp from 'amqplib';
import { encodeContent, type FieldTable, type FieldValue } from '../src/protocols/amqp/codec/index.js';
import { RawClient } from './amqp-helpers.js';
import { startTestBroker } from './broker.js';
import { until } from './wait.js';

const count = Number(process.argv[2] ?? 15_000);
const histogram = monitorEventLoopDelay({ resolution: 5 });
const table = () => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, i]));

async function held(name: string, act: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  const pending = act();
  histogram.reset();
  let outcome = 'answered';
  try {
    const answer = await pending;
    if (typeof answer === 'string') outcome = answer;
  } catch (e) {
    outcome = `failed: ${(e as Error).message.slice(0, 80)}`;
  }
  const tookMs = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(
    `${name}: loop held ${(histogram.max / 1e6).toFixed(0)} ms, ${outcome} in ${tookMs.toFixed(0)} ms`,
  );
}

async function throughAmqplib(url: string): Promise<void> {
  const conn = await amqp.connect(url);
  for (let run = 0; run < 2; run++) {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('hold', { durable: false });
    await held(`publish headers ×${count}`, async () => {
      ch.publish('', 'hold', Buffer.from('x'), { headers: table() });
      await ch.waitForConfirms();
    });
    await held(`get with headers ×${count}`, () => ch.get('hold', { noAck: true }));
    await held(`queue.declare arguments ×${count}`, () =>
      ch.assertQueue(`hold-args-${run}`, { arguments: table() }),
    );
    await held('publish 64 MiB body', async () => {
      ch.publish('', 'hold', Buffer.alloc(64 * 1024 * 1024));
      await ch.waitForConfirms();
    });
    await ch.close().catch(() => undefined);
  }
  await conn.close();
}

const frameBytes = 131_072;
/** The densest shapes one frame can carry: short distinct keys, and an array of one-octet voids. */
const denseTables: Record<string, () => FieldTable> = {
  '25,000 distinct three-letter keys': () => {
    const t: FieldTable = {};
    const letter = (n: number) => String.fromCharCode(0x21 + (n % 94));
    for (let i = 0; i < 25_000; i++) t[letter(i) + letter(i / 94) + letter(i / 8836)] = null;
    return t;
  },
  'an array of 130,000 voids': () => ({ a: Array.from({ length: 130_000 }, (): FieldValue => null) }),
  '12,000 entries: 6,000 tables of one key': () => ({
    a: Array.from({ length: 6_000 }, (): FieldValue => ({ k: 1 })),
  }),
  '9,990 distinct keys': () => Object.fromEntries(Array.from({ length: 9_990 }, (_, i) => [`k${i}`, i])),
};

async function rawPublish(port: number, name: string, headers: FieldTable): Promise<void> {
  const client = await RawClient.connect(port);
  await client.handshake();
  client.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
  await client.method('channel.open-ok');
  client.send(1, { name: 'confirm.select', fields: { noWait: false } });
  await client.method('confirm.select-ok');
  const method = {
    name: 'basic.publish' as const,
    fields: { ticket: 0, exchange: '', routingKey: 'hold', mandatory: false, immediate: false },
  };
  const frames = encodeContent(1, method, { headers }, Buffer.from('x'), frameBytes);
  await held(`publish, headers of ${name} (${frames.byteLength} bytes)`, async () => {
    client.write(frames);
    const answered = (f: (typeof client.frames)[number]) =>
      f.kind === 'method' && (f.method.name === 'basic.ack' || f.method.name === 'connection.close');
    await until(() => client.frames.some(answered) || client.closed, 30_000, 'an ack or a close');
    const frame = client.frames.find(answered);
    if (frame?.kind !== 'method') return 'closed without an answer';
    const { method: m } = frame;
    return m.name === 'connection.close' ? `closed ${m.fields.replyCode} ${m.fields.replyText}` : 'acked';
  });
  client.close();
}

async function main(): Promise<void> {
  const server = await startTestBroker({ listeners: ['amqp'] });
  histogram.enable();
  if (process.argv[2] === 'tables') {
    for (let run = 0; run < 2; run++) {
      for (const [name, make] of Object.entries(denseTables))
        await rawPublish(server.port('amqp'), name, make());
    }
  } else {
    await throughAmqplib(server.url('amqp'));
  }
  histogram.disable();
  await server.stop();
}

await main();
