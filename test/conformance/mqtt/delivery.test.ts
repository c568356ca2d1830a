import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IPublishPacket } from 'mqtt-packet';
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
  server = await startMqttBroker();
});
after(() => server.stop());

for (const transport of ['tcp', 'ws'] as const) {
  for (const protocolVersion of [4, 5] as const) {
    describe(`delivery over ${transport}, MQTT ${protocolVersion === 4 ? '3.1.1' : '5.0'}`, () => {
      const url = () => (transport === 'tcp' ? server.url : server.wsUrl);
      const topic = (name: string) => `delivery/${transport}/${protocolVersion}/${name}`;

      test('QoS 0, 1 and 2 arrive in order at the QoS granted', async () => {
        const sub = await connect(url(), {
          protocolVersion,
          clientId: `sub-${transport}-${protocolVersion}`,
        });
        const pub = await connect(url(), { protocolVersion });
        try {
          const box = inbox(sub);
          await sub.subscribeAsync(topic('qos/#'), { qos: 2 });
          for (let i = 0; i < 30; i++)
            await pub.publishAsync(topic(`qos/${i % 3}`), `m${i}`, { qos: (i % 3) as 0 | 1 | 2 });
          const got = await box.wait(30);
          assert.deepEqual(
            got.map((m) => m.text),
            Array.from({ length: 30 }, (_, i) => `m${i}`),
          );
          assert.deepEqual(
            got.slice(0, 3).map((m) => m.packet.qos),
            [0, 1, 2],
          );
        } finally {
          await closeAll(sub, pub);
        }
      });

      test('a subscription granted QoS 1 downgrades QoS 2 publishes', async () => {
        const sub = await connect(url(), { protocolVersion });
        try {
          const box = inbox(sub);
          await sub.subscribeAsync(topic('down'), { qos: 1 });
          await sub.publishAsync(topic('down'), 'x', { qos: 2 });
          const [m] = await box.wait(1);
          assert.equal(m!.packet.qos, 1);
        } finally {
          await closeAll(sub);
        }
      });

      test('overlapping subscriptions deliver one copy at the highest QoS', async () => {
        const sub = await connect(url(), { protocolVersion });
        try {
          const box = inbox(sub);
          await sub.subscribeAsync({ [topic('over/+')]: { qos: 0 }, [topic('over/#')]: { qos: 2 } });
          await sub.publishAsync(topic('over/a'), 'once', { qos: 2 });
          await box.wait(1);
          await sleep(150);
          assert.equal(box.messages.length, 1);
          assert.equal(box.messages[0]!.packet.qos, 2);
        } finally {
          await closeAll(sub);
        }
      });
    });
  }
}

describe('MQTT 5 delivery features', () => {
  test('user properties, content type, payload format, response topic and correlation data travel', async () => {
    const sub = await connect(server.url, { protocolVersion: 5 });
    const pub = await connect(server.url, { protocolVersion: 5 });
    try {
      const box = inbox(sub);
      await sub.subscribeAsync('v5/props');
      const correlationData = Buffer.from([0xff, 0x00, 0x01]);
      await pub.publishAsync('v5/props', 'x', {
        qos: 1,
        properties: {
          userProperties: { a: '1', b: ['2', '3'] },
          contentType: 'text/plain',
          payloadFormatIndicator: true,
          responseTopic: 'v5/reply',
          correlationData,
        },
      });
      const [m] = await box.wait(1);
      const p = m!.packet.properties!;
      assert.deepEqual({ ...p.userProperties }, { a: '1', b: ['2', '3'] });
      assert.equal(p.contentType, 'text/plain');
      assert.equal(p.payloadFormatIndicator, true);
      assert.equal(p.responseTopic, 'v5/reply');
      assert.deepEqual(p.correlationData, correlationData);
    } finally {
      await closeAll(sub, pub);
    }
  });

  test('subscription identifiers: one copy carries every matching id', async () => {
    const sub = await connect(server.url, { protocolVersion: 5 });
    try {
      const box = inbox(sub);
      await sub.subscribeAsync('ids/+', { qos: 1, properties: { subscriptionIdentifier: 2 } });
      await sub.subscribeAsync('ids/#', { qos: 1, properties: { subscriptionIdentifier: 3 } });
      await sub.publishAsync('ids/a', 'x', { qos: 1 });
      const [m] = await box.wait(1);
      const ids = m!.packet.properties!.subscriptionIdentifier;
      assert.deepEqual([ids].flat().sort(), [2, 3]);
    } finally {
      await closeAll(sub);
    }
  });

  test('no local: a client does not get its own messages back', async () => {
    const c = await connect(server.url, { protocolVersion: 5 });
    const other = await connect(server.url, { protocolVersion: 5 });
    try {
      const box = inbox(c);
      await c.subscribeAsync('nl/t', { qos: 1, nl: true });
      await c.publishAsync('nl/t', 'mine', { qos: 1 });
      await other.publishAsync('nl/t', 'theirs', { qos: 1 });
      await box.wait(1);
      await sleep(100);
      assert.deepEqual(
        box.messages.map((m) => m.text),
        ['theirs'],
      );
    } finally {
      await closeAll(c, other);
    }
  });

  test('retain as published keeps the retain flag on live messages', async () => {
    const c = await connect(server.url, { protocolVersion: 5 });
    try {
      const box = inbox(c);
      await c.subscribeAsync('rap/keep', { qos: 1, rap: true });
      await c.subscribeAsync('rap/clear', { qos: 1 });
      await c.publishAsync('rap/keep', 'k', { qos: 1, retain: true });
      await c.publishAsync('rap/clear', 'c', { qos: 1, retain: true });
      const got = await box.wait(2);
      assert.equal(got.find((m) => m.text === 'k')!.packet.retain, true);
      assert.equal(got.find((m) => m.text === 'c')!.packet.retain, false);
      await c.publishAsync('rap/keep', '', { retain: true });
      await c.publishAsync('rap/clear', '', { retain: true });
    } finally {
      await closeAll(c);
    }
  });

  test('receive maximum: never more unacked QoS 1 messages than the client allows', async () => {
    const raw = await rawClient(server.port, 5);
    const pub = await connect(server.url, { protocolVersion: 5 });
    try {
      await raw.connect('flow-raw', { properties: { receiveMaximum: 2 } });
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flow/t', qos: 1 }] });
      await raw.expect((p) => p.cmd === 'suback');
      for (let i = 0; i < 5; i++) await pub.publishAsync('flow/t', `m${i}`, { qos: 1 });
      await sleep(150);
      const publishes = () => raw.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
      assert.equal(publishes().length, 2, 'two in flight, the rest wait');
      raw.send({ cmd: 'puback', messageId: publishes()[0]!.messageId! });
      await sleep(100);
      assert.equal(publishes().length, 3, 'one acked, one more sent');
      assert.deepEqual(
        publishes().map((p) => p.payload.toString()),
        ['m0', 'm1', 'm2'],
      );
    } finally {
      raw.end();
      await closeAll(pub);
    }
  });

  test('receive maximum holds per client across shared subscriptions and its own filter [MQTT-3.3.4-9]', async () => {
    const raw = await rawClient(server.port, 5);
    const pub = await connect(server.url, { protocolVersion: 5 });
    try {
      await raw.connect('flow-shared', { properties: { receiveMaximum: 2 } });
      const filters = ['$share/ga/rm/a', '$share/gb/rm/b', 'rm/c'];
      raw.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: filters.map((topic) => ({ topic, qos: 1 })),
      });
      await raw.expect((p) => p.cmd === 'suback');
      for (const topic of ['rm/a', 'rm/b', 'rm/c'])
        for (let i = 0; i < 3; i++) await pub.publishAsync(topic, `${topic} ${i}`, { qos: 1 });
      const publishes = () => raw.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
      const acked = new Set<number>();
      const unacked = () => publishes().filter((p) => !acked.has(p.messageId!));
      // Ack one at a time, checking the client never holds more than it allowed; 9 messages in all.
      for (let round = 0; round < 9; round++) {
        await sleep(60);
        assert.ok(unacked().length <= 2, `holds ${unacked().length} unacked, allowed 2`);
        const next = unacked()[0];
        assert.ok(next !== undefined, `round ${round}: nothing to ack`);
        raw.send({ cmd: 'puback', messageId: next.messageId! });
        acked.add(next.messageId!);
      }
      await sleep(60);
      assert.equal(publishes().length, 9, 'every message arrived in the end');
      assert.equal(unacked().length, 0);
    } finally {
      raw.end();
      await closeAll(pub);
    }
  });

  test('maximum packet size: messages larger than the client accepts are dropped, smaller ones pass', async () => {
    const sub = await connect(server.url, { protocolVersion: 5, properties: { maximumPacketSize: 100 } });
    try {
      const box = inbox(sub);
      await sub.subscribeAsync('size/t', { qos: 1 });
      await sub.publishAsync('size/t', 'x'.repeat(200), { qos: 1 });
      await sub.publishAsync('size/t', 'small', { qos: 1 });
      await box.wait(1);
      await sleep(100);
      assert.deepEqual(
        box.messages.map((m) => m.text),
        ['small'],
      );
    } finally {
      await closeAll(sub);
    }
  });

  test('topic aliases in both directions', async () => {
    const sub = await connect(server.url, { protocolVersion: 5, properties: { topicAliasMaximum: 5 } });
    const pub = await connect(server.url, { protocolVersion: 5 });
    try {
      const aliases: Array<number | undefined> = [];
      sub.on('packetreceive', (p) => {
        if (p.cmd === 'publish') aliases.push(p.properties?.topicAlias);
      });
      const box = inbox(sub);
      await sub.subscribeAsync('alias/t', { qos: 1 });
      await pub.publishAsync('alias/t', 'first', { qos: 1, properties: { topicAlias: 1 } });
      await pub.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 1 } });
      const got = await box.wait(2);
      assert.deepEqual(
        got.map((m) => [m.topic, m.text]),
        [
          ['alias/t', 'first'],
          ['alias/t', 'second'],
        ],
      );
      assert.equal(aliases[0], 1);
      assert.equal(aliases[1], 1);
    } finally {
      await closeAll(sub, pub);
    }
  });

  test('message expiry: an expired message is not delivered, a live one has its interval reduced', async () => {
    const pub = await connect(server.url, { protocolVersion: 5 });
    const first = await connect(server.url, {
      protocolVersion: 5,
      clientId: 'expiry-sub',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    try {
      await first.subscribeAsync('exp/t', { qos: 1 });
      await first.endAsync();
      await pub.publishAsync('exp/t', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
      await pub.publishAsync('exp/t', 'long', { qos: 1, properties: { messageExpiryInterval: 10 } });
      await sleep(1300);
      const again = await connect(server.url, {
        protocolVersion: 5,
        clientId: 'expiry-sub',
        clean: false,
        properties: { sessionExpiryInterval: 0 },
      });
      const box = inbox(again);
      const [m] = await box.wait(1);
      await sleep(100);
      assert.deepEqual(
        box.messages.map((x) => x.text),
        ['long'],
      );
      const left = m!.packet.properties!.messageExpiryInterval!;
      assert.ok(left < 10 && left >= 8, `remaining expiry ${left}`);
      await closeAll(again);
    } finally {
      await closeAll(pub, first);
    }
  });
});
