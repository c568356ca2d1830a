/**
 * What a KubeMQ puller reads in `Attributes` of a queue message another protocol sent
 * (docs/cross-protocol.md, "KubeMQ"): `ExpirationAt` is when the queue drops the message.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import type { Broker } from '../../../src/index.js';
import { startTestBroker } from '../../../testing/broker.js';
import { rest } from '../../../testing/kubemq-harness.js';

let broker: Broker;
let restBase: string;

before(async () => {
  ({ broker } = await startTestBroker({ listeners: ['amqp', 'rest'] }));
  restBase = `http://127.0.0.1:${broker.ports.restPort}`;
});
after(() => broker.stop());

interface Pulled {
  Messages?: Array<{ Attributes: { ExpirationAt?: number | string; Timestamp?: number | string } }>;
}

/** Sends one persistent AMQP message to queue `q` and pulls it over KubeMQ's REST API. */
async function amqpThenPull(q: string, options: amqp.Options.Publish) {
  const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.ports.amqpPort}`);
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(q, { durable: true });
    channel.sendToQueue(q, Buffer.from('from amqp'), { persistent: true, ...options });
    await channel.waitForConfirms();
  } finally {
    await connection.close();
  }
  const pulled = await rest<Pulled>(restBase, '/queue/receive', {
    ClientID: 'puller',
    Channel: q,
    MaxNumberOfMessages: 1,
    WaitTimeSeconds: 1,
  });
  const attributes = pulled.data.Messages?.[0]?.Attributes;
  assert.ok(attributes, `one message pulled: ${JSON.stringify(pulled)}`);
  return { expirationAtMs: Number(attributes.ExpirationAt ?? 0) / 1e6 };
}

test('an AMQP message with a timestamp of its own: ExpirationAt counts its expiration from its arrival', async () => {
  // A publisher's timestamp of 2023 once put ExpirationAt 60 s after it: long past, for a message the
  // queue still held and handed out (found walking the cross-protocol promise with pika).
  const before = Date.now();
  const { expirationAtMs } = await amqpThenPull('uw.expiry.stamped', {
    timestamp: 1_700_000_000,
    expiration: '60000',
  });
  assert.ok(expirationAtMs >= before + 60_000, `ExpirationAt ${expirationAtMs} is after arrival + 60 s`);
  assert.ok(expirationAtMs <= Date.now() + 60_000, `ExpirationAt ${expirationAtMs} is not later than that`);
});

test('an AMQP message without a timestamp or expiration: ExpirationAt 0, never', async () => {
  const { expirationAtMs } = await amqpThenPull('uw.expiry.none', {});
  assert.equal(expirationAtMs, 0);
});
