import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  closeAll,
  connect,
  inbox,
  type MqttTestBroker,
  rawClient,
  sleep,
  startMqttBroker,
} from '../../../testing/mqtt-harness.js';

let server: MqttTestBroker;
before(async () => {
  server = await startMqttBroker({ limits: { sysIntervalMs: 200 } });
});
after(() => server.stop());

describe('topics', () => {
  test('+ and # wildcards; leading wildcards do not match $ topics', async () => {
    const sub = await connect(server.url);
    const pub = await connect(server.url);
    try {
      await sub.subscribeAsync({
        'wc/+/x': { qos: 0 },
        'wc/#': { qos: 0 },
        '+/dollar': { qos: 0 },
        '#': { qos: 0 },
      });
      const box = inbox(sub);
      await pub.publishAsync('wc/a/x', 'both');
      await pub.publishAsync('$wc/dollar', 'hidden');
      await box.wait(1);
      await sleep(150);
      const texts = box.messages.map((m) => m.text);
      assert.deepEqual(
        texts.filter((t) => t === 'both'),
        ['both'],
        'one copy for overlapping filters',
      );
      assert.ok(!texts.includes('hidden'));
    } finally {
      await closeAll(sub, pub);
    }
  });

  test('messages on one topic follow each change of the subscriptions: QoS of the best match, none once all are gone', async () => {
    const sub = await connect(server.url);
    const pub = await connect(server.url);
    try {
      const box = inbox(sub);
      const next = async (text: string): Promise<number | undefined> => {
        const before = box.messages.length;
        await pub.publishAsync('same/topic', text, { qos: 1 });
        await box.wait(before + 1);
        return box.messages.at(-1)?.packet.qos;
      };
      await sub.subscribeAsync('same/#', { qos: 0 });
      assert.equal(await next('1'), 0);
      assert.equal(await next('2'), 0);
      await sub.subscribeAsync('same/topic', { qos: 1 });
      assert.equal(await next('3'), 1, 'the new exact filter grants QoS 1');
      await sub.unsubscribeAsync('same/topic');
      assert.equal(await next('4'), 0, 'back to the wildcard alone');
      await sub.unsubscribeAsync('same/#');
      await pub.publishAsync('same/topic', '5', { qos: 1 });
      await sleep(150);
      assert.deepEqual(
        box.messages.map((m) => m.text),
        ['1', '2', '3', '4'],
      );
    } finally {
      await closeAll(sub, pub);
    }
  });

  test('a dot inside a level and an empty level survive the mapping onto routing keys', async () => {
    const sub = await connect(server.url);
    try {
      await sub.subscribeAsync(['dots/v1.2/+', 'dots//empty']);
      await sub.publishAsync('dots/v1.2/x', 'dotted');
      await sub.publishAsync('dots/v1/2/x', 'not this');
      await sub.publishAsync('dots//empty', 'empty level');
      const got = await inbox(sub).wait(2);
      await sleep(100);
      assert.deepEqual(
        got.map((m) => [m.topic, m.text]),
        [
          ['dots/v1.2/x', 'dotted'],
          ['dots//empty', 'empty level'],
        ],
      );
    } finally {
      await closeAll(sub);
    }
  });

  test('retained messages: set, replace, delivered on subscribe with the retain flag, cleared by an empty payload', async () => {
    const pub = await connect(server.url);
    await pub.publishAsync('ret/a', 'old', { retain: true, qos: 1 });
    await pub.publishAsync('ret/a', 'new', { retain: true, qos: 1 });
    await pub.publishAsync('ret/b', 'b', { retain: true, qos: 1 });
    const sub = await connect(server.url);
    try {
      await sub.subscribeAsync('ret/+', { qos: 1 });
      const got = await inbox(sub).wait(2);
      assert.deepEqual(got.map((m) => [m.topic, m.text, m.packet.retain]).sort(), [
        ['ret/a', 'new', true],
        ['ret/b', 'b', true],
      ]);
      await pub.publishAsync('ret/a', '', { retain: true, qos: 1 });
      await pub.publishAsync('ret/b', '', { retain: true, qos: 1 });
      const late = await connect(server.url);
      await late.subscribeAsync('ret/+');
      await sleep(150);
      assert.equal(inbox(late).messages.length, 0);
      await closeAll(late);
    } finally {
      await closeAll(sub, pub);
    }
  });

  test('retain handling 0, 1 and 2 (v5)', async () => {
    const c = await connect(server.url, { protocolVersion: 5 });
    try {
      await c.publishAsync('rh/t', 'kept', { retain: true, qos: 1 });
      const box = inbox(c);
      await c.subscribeAsync('rh/t', { qos: 1, rh: 2 });
      await sleep(100);
      assert.equal(box.messages.length, 0, 'rh 2: never');
      await c.unsubscribeAsync('rh/t');
      await c.subscribeAsync('rh/t', { qos: 1, rh: 1 });
      await box.wait(1);
      await c.subscribeAsync('rh/t', { qos: 1, rh: 1 });
      await sleep(100);
      assert.equal(box.messages.length, 1, 'rh 1: only for a new subscription');
      await c.subscribeAsync('rh/t', { qos: 1, rh: 0 });
      await box.wait(2);
      await c.publishAsync('rh/t', '', { retain: true });
    } finally {
      await closeAll(c);
    }
  });

  test('will: published on abnormal disconnect, not after DISCONNECT', async () => {
    const watcher = await connect(server.url);
    try {
      await watcher.subscribeAsync('will/+');
      const box = inbox(watcher);
      const polite = await connect(server.url, {
        will: { topic: 'will/polite', payload: Buffer.from('no'), qos: 0, retain: false },
      });
      await polite.endAsync();
      const rude = await rawClient(server.port, 4);
      await rude.connect('rude', {
        will: { topic: 'will/rude', payload: Buffer.from('gone'), qos: 1, retain: false },
      });
      rude.end();
      const got = await box.wait(1);
      await sleep(100);
      assert.deepEqual(
        got.map((m) => [m.topic, m.text]),
        [['will/rude', 'gone']],
      );
    } finally {
      await closeAll(watcher);
    }
  });

  test('will delay (v5): sent after the delay, dropped when the client comes back in time', async () => {
    const watcher = await connect(server.url);
    try {
      await watcher.subscribeAsync('wd/+');
      const box = inbox(watcher);
      const connectWithWill = async (clientId: string, topic: string) => {
        const raw = await rawClient(server.port, 5);
        await raw.connect(clientId, {
          clean: false,
          properties: { sessionExpiryInterval: 60 },
          will: {
            topic,
            payload: Buffer.from(clientId),
            qos: 0,
            retain: false,
            properties: { willDelayInterval: 1 },
          },
        });
        return raw;
      };
      const started = Date.now();
      (await connectWithWill('wd-late', 'wd/late')).end();
      (await connectWithWill('wd-back', 'wd/back')).end();
      await sleep(200);
      const back = await connect(server.url, {
        protocolVersion: 5,
        clientId: 'wd-back',
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      const [m] = await box.wait(1);
      const elapsed = Date.now() - started;
      assert.equal(m!.topic, 'wd/late');
      assert.ok(elapsed >= 900, `will after ${elapsed} ms`);
      await sleep(300);
      assert.equal(box.messages.length, 1, 'the returning client has no will sent');
      await closeAll(back);
    } finally {
      await closeAll(watcher);
    }
  });

  test("shared subscriptions spread messages and hand a departed member's messages to the others", async () => {
    const a = await connect(server.url, { protocolVersion: 5, clientId: 'share-a' });
    const held: string[] = [];
    const b = await rawClient(server.port, 5);
    const pub = await connect(server.url, { protocolVersion: 5 });
    try {
      await a.subscribeAsync('$share/g1/shared/t', { qos: 1 });
      await b.connect('share-b');
      b.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g1/shared/t', qos: 1 }] });
      await b.expect((p) => p.cmd === 'suback');
      for (let i = 0; i < 10; i++) await pub.publishAsync('shared/t', `m${i}`, { qos: 1 });
      await sleep(200);
      for (const p of b.packets) if (p.cmd === 'publish') held.push(p.payload.toString());
      const boxA = inbox(a);
      assert.ok(
        held.length > 0 && boxA.messages.length > 0,
        `spread: a=${boxA.messages.length} b=${held.length}`,
      );
      assert.equal(boxA.messages.length + held.length, 10);
      b.end();
      await boxA.wait(10);
      assert.deepEqual(
        boxA.messages.map((m) => m.text).sort(),
        Array.from({ length: 10 }, (_, i) => `m${i}`).sort(),
      );
    } finally {
      b.end();
      await closeAll(a, pub);
    }
  });

  test('$SYS statistics are published and retained', async () => {
    const c = await connect(server.url);
    try {
      await c.subscribeAsync('$SYS/broker/#');
      const got = await inbox(c).wait(5);
      const topics = new Set(got.map((m) => m.topic));
      assert.ok(topics.has('$SYS/broker/version'));
      assert.ok(topics.has('$SYS/broker/clients/connected'));
      assert.ok(topics.has('$SYS/broker/messages/received'));
    } finally {
      await closeAll(c);
    }
  });
});
