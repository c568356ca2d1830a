/**
 * A disk that fails under one object fails that object only. With writes to one queue's, one MQTT
 * session's and one Kafka partition's files failing, each protocol's client of the failed object gets
 * its protocol's error (an AMQP nack and consumer cancel, an MQTT disconnect, KAFKA_STORAGE_ERROR)
 * while clients of every other object, on every protocol, carry on; nothing escapes to the process
 * (node:test fails the file on an uncaught error). Once the disk heals, the objects come back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import type { Broker } from '../../src/index.js';
import { startTestBroker } from '../../testing/broker.js';
import { FaultyIo } from '../../testing/faulty-io.js';
import { kafkaClient, until } from '../../testing/kafka-helpers.js';
import { closeAll, connect, inbox } from '../../testing/mqtt-harness.js';

const waitMs = 10_000;

describe('a failing disk under one object', () => {
  const io = new FaultyIo();
  let dataDir: string;
  let broker: Broker;
  let amqpUrl: string;
  let mqttUrl: string;
  let bootstrap: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchyard-faults-'));
    ({ broker } = await startTestBroker({
      listeners: ['amqp', 'mqtt', 'kafka', 'http'],
      storage: 'file',
      dataDir,
      fsync: 'always',
      storageIo: io,
    }));
    amqpUrl = `amqp://guest:guest@127.0.0.1:${broker.ports.amqpPort}`;
    mqttUrl = `mqtt://127.0.0.1:${broker.ports.mqttPort}`;
    bootstrap = `127.0.0.1:${broker.ports.kafkaPort}`;
  });

  after(async () => {
    io.failing.clear();
    await broker.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('AMQP: the failed queue nacks and cancels its consumer; another queue and connection carry on', async () => {
    const healthy = await amqp.connect(amqpUrl);
    const doomed = await amqp.connect(amqpUrl);
    doomed.on('error', () => {});
    try {
      const ok = await healthy.createConfirmChannel();
      const bad = await doomed.createConfirmChannel();
      bad.on('error', () => {});
      await ok.assertQueue('healthy', { durable: true });
      await bad.assertQueue('doomed', { durable: true });
      bad.sendToQueue('doomed', Buffer.from('kept'), { persistent: true });
      await bad.waitForConfirms();
      const cancelled: Array<amqp.ConsumeMessage | null> = [];
      await bad.consume('doomed', (m) => {
        if (m === null) cancelled.push(m);
      });
      io.failing.add('q._2f.doomed');
      const nacks = await publishUntilNacked(bad, 'doomed');
      assert.ok(nacks > 0, 'a publish the disk refused is nacked');
      await until(() => cancelled.length === 1, waitMs, 'the consumer of the failed queue is cancelled');
      // The healthy queue, on another connection, is untouched.
      ok.sendToQueue('healthy', Buffer.from('fine'), { persistent: true });
      await ok.waitForConfirms();
      const got = await ok.get('healthy', { noAck: true });
      assert.equal(got && got.content.toString(), 'fine');
      io.failing.delete('q._2f.doomed');
      // Declared again once the disk healed, the queue reopens with what its log held.
      const again = await healthy.createChannel();
      await again.assertQueue('doomed', { durable: true });
      const back = await pollGet(again, 'doomed');
      assert.equal(back, 'kept');
    } finally {
      await healthy.close();
      await doomed.close().catch(() => {});
    }
  });

  test('AMQP tx: a commit whose messages could not be stored is never confirmed', async () => {
    const connection = await amqp.connect(amqpUrl);
    const closed = new Promise<Error | undefined>((resolve) => connection.on('error', resolve));
    try {
      const ch = await connection.createChannel();
      ch.on('error', () => {});
      await ch.assertQueue('ledger', { durable: true });
      await txCall(ch, 'TxSelect');
      io.failing.add('q._2f.ledger');
      ch.sendToQueue('ledger', Buffer.from('entry'), { persistent: true });
      await assert.rejects(txCall(ch, 'TxCommit'));
      assert.match(String(await closed), /541|INTERNAL_ERROR/);
    } finally {
      io.failing.delete('q._2f.ledger');
      await connection.close().catch(() => {});
    }
  });

  test('MQTT: the client whose session failed is disconnected; other clients keep publishing', async () => {
    const device = await connect(mqttUrl, {
      protocolVersion: 5,
      clientId: 'device-1',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 0,
    });
    const watcher = await connect(mqttUrl, { protocolVersion: 5, clientId: 'watcher' });
    const sender = await connect(mqttUrl, { protocolVersion: 5, clientId: 'sender' });
    try {
      await device.subscribeAsync('plant/#', { qos: 1 });
      await watcher.subscribeAsync('plant/#', { qos: 1 });
      const seen = inbox(watcher);
      let disconnected: number | undefined;
      device.on('disconnect', (packet) => (disconnected = packet.reasonCode));
      io.failing.add('session_2edevice-1');
      for (let i = 0; i < 20 && disconnected === undefined; i++) {
        // A publish that reached the failing session is refused (PUBACK 0x80): not confirmed.
        await sender.publishAsync('plant/line1', `m${i}`, { qos: 1 }).catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await until(() => disconnected !== undefined, waitMs, 'the device is told to go');
      assert.equal(disconnected, 0x80);
      await until(() => seen.messages.length >= 1, waitMs, 'the watcher still receives');
    } finally {
      io.failing.delete('session_2edevice-1');
      await closeAll(device, watcher, sender);
    }
  });

  test('Kafka: the failed partition answers KAFKA_STORAGE_ERROR; another topic is produced and read', async () => {
    const kafka = kafkaClient(bootstrap, 'faults');
    const admin = kafka.admin();
    const producer = kafka.producer({ retry: { retries: 0 } });
    await admin.connect();
    await producer.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'doomed-topic' }, { topic: 'fine-topic' }] });
      io.failing.add('s._2f.doomed-topic.0');
      const failure = await produceUntilRefused(producer, 'doomed-topic');
      // kafkajs words KAFKA_STORAGE_ERROR (56) this way.
      assert.match(failure, /Disk error when trying to access log file/);
      await producer.send({ topic: 'fine-topic', messages: [{ value: 'fine' }] });
      const offsets = await admin.fetchTopicOffsets('fine-topic');
      assert.equal(offsets[0]?.high, '1');
      // Once the disk heals the stream is restarted with its log reopened, and takes records again.
      io.failing.delete('s._2f.doomed-topic.0');
      assert.equal(await produceUntilAccepted(producer, 'doomed-topic'), true);
    } finally {
      io.failing.delete('s._2f.doomed-topic.0');
      await producer.disconnect();
      await admin.disconnect();
    }
  });

  test('failures are counted in /metrics, and nothing escaped', async () => {
    const response = await fetch(`http://127.0.0.1:${broker.ports.httpPort}/metrics`);
    const text = await response.text();
    assert.match(text, /switchyard_object_failures_total\{kind="queue"\} [1-9]/);
    assert.match(text, /switchyard_escaped_errors_total 0/);
  });
});

/** amqplib's channel API has no tx methods; its low-level rpc sends them by id (class << 16 | method). */
async function txCall(ch: amqp.Channel, method: 'TxSelect' | 'TxCommit'): Promise<void> {
  const ids = { TxSelect: 10, TxCommit: 20 } as const;
  const id = (90 << 16) | ids[method];
  const rpc = (ch as unknown as { rpc(m: number, f: object, r: number): Promise<unknown> }).rpc.bind(ch);
  await rpc(id, {}, id + 1);
}

/** Publishes persistent messages until one is nacked; returns how many were. */
async function publishUntilNacked(channel: amqp.ConfirmChannel, queue: string): Promise<number> {
  let nacks = 0;
  for (let i = 0; i < 50 && nacks === 0; i++) {
    await new Promise<void>((resolve) => {
      channel.sendToQueue(queue, Buffer.from(`lost-${i}`), { persistent: true }, (err) => {
        if (err !== null && err !== undefined) nacks++;
        resolve();
      });
    });
  }
  return nacks;
}

async function pollGet(channel: amqp.Channel, queue: string): Promise<string | undefined> {
  for (let i = 0; i < 200; i++) {
    const got = await channel.get(queue, { noAck: true });
    if (got !== false) return got.content.toString();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

/** The restart reopens the log in the background: a produce made meanwhile may still be refused. */
async function produceUntilAccepted(
  producer: ReturnType<ReturnType<typeof kafkaClient>['producer']>,
  topic: string,
): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    try {
      await producer.send({ topic, messages: [{ value: 'healed' }] });
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return false;
}

async function produceUntilRefused(
  producer: ReturnType<ReturnType<typeof kafkaClient>['producer']>,
  topic: string,
): Promise<string> {
  for (let i = 0; i < 20; i++) {
    try {
      await producer.send({ topic, messages: [{ value: `v${i}` }] });
    } catch (err) {
      return err instanceof Error ? `${err.name} ${err.message}` : String(err);
    }
  }
  return 'never refused';
}
