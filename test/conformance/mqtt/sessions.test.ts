import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { IPublishPacket } from 'mqtt-packet';
import {
  closeAll,
  connack,
  connect,
  inbox,
  type MqttTestBroker,
  rawClient,
  sleep,
  startMqttBroker,
} from '../../../testing/mqtt-harness.js';

let server: MqttTestBroker;
before(async () => {
  server = await startMqttBroker({ limits: { keepAliveSecMax: 60 } });
});
after(() => server.stop());

describe('sessions', () => {
  test('3.1.1 persistent session: subscriptions kept, QoS 1 queued while offline, session present', async () => {
    const a = await connect(server.url, { clientId: 'persist-311', clean: false });
    assert.equal(connack(a).sessionPresent ?? false, false);
    await a.subscribeAsync('sess/311', { qos: 1 });
    await a.endAsync();
    const pub = await connect(server.url);
    await pub.publishAsync('sess/311', 'while away', { qos: 1 });
    await pub.publishAsync('sess/311', 'qos0 too', { qos: 0 });
    const b = await connect(server.url, { clientId: 'persist-311', clean: false });
    try {
      assert.equal(connack(b).sessionPresent, true);
      const got = await inbox(b).wait(1);
      assert.equal(got[0]!.text, 'while away');
    } finally {
      await closeAll(b, pub);
    }
  });

  test('clean session starts empty and leaves nothing behind', async () => {
    const a = await connect(server.url, { clientId: 'clean-311', clean: true });
    await a.subscribeAsync('sess/clean', { qos: 1 });
    await a.endAsync();
    const pub = await connect(server.url);
    await pub.publishAsync('sess/clean', 'lost', { qos: 1 });
    const b = await connect(server.url, { clientId: 'clean-311', clean: false });
    try {
      assert.equal(connack(b).sessionPresent, false);
      await sleep(100);
      assert.equal(inbox(b).messages.length, 0);
    } finally {
      await closeAll(b, pub);
    }
  });

  test('v5 session expiry: a session outlives its connection for the interval only', async () => {
    const options = {
      protocolVersion: 5 as const,
      clientId: 'expiring',
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    };
    const a = await connect(server.url, options);
    await a.subscribeAsync('sess/exp');
    await a.endAsync();
    const b = await connect(server.url, options);
    assert.equal(connack(b).sessionPresent, true, 'back within the interval');
    await b.endAsync();
    await sleep(1300);
    const c = await connect(server.url, options);
    try {
      assert.equal(connack(c).sessionPresent, false, 'gone after the interval');
    } finally {
      await closeAll(c);
    }
  });

  test('takeover: the older connection gets DISCONNECT 0x8E (v5) and the session moves', async () => {
    const first = await connect(server.url, {
      protocolVersion: 5,
      clientId: 'taken',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    const reasons: number[] = [];
    first.on('disconnect', (p) => reasons.push(p.reasonCode ?? 0));
    await first.subscribeAsync('sess/take', { qos: 1 });
    const second = await connect(server.url, {
      protocolVersion: 5,
      clientId: 'taken',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    try {
      assert.equal(connack(second).sessionPresent, true);
      await sleep(100);
      assert.deepEqual(reasons, [0x8e]);
      await second.publishAsync('sess/take', 'to the new one', { qos: 1 });
      assert.equal((await inbox(second).wait(1))[0]!.text, 'to the new one');
    } finally {
      await closeAll(first, second);
    }
  });

  test('client id assignment: v5 empty id gets one; 3.1.1 empty id needs a clean session', async () => {
    const v5 = await connect(server.url, { protocolVersion: 5, clientId: '' });
    try {
      assert.match(String(connack(v5).properties?.assignedClientIdentifier), /^auto-/);
    } finally {
      await closeAll(v5);
    }
    const raw = await rawClient(server.port, 4);
    // CONNECT 3.1.1, clean session 0, keep alive 10, empty client id (mqtt-packet refuses to encode it).
    raw.write(Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 10, 0, 0]));
    const refused = await raw.expect((p) => p.cmd === 'connack');
    assert.equal((refused as { returnCode?: number }).returnCode, 2);
    await raw.closed;
  });

  test('keep alive: silence for 1.5 × the interval closes the connection; server keep alive caps it', async () => {
    const raw = await rawClient(server.port, 5);
    await raw.connect('silent', { keepalive: 1 });
    const started = Date.now();
    await raw.closed;
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1000 && elapsed < 3000, `closed after ${elapsed} ms`);
    const capped = await connect(server.url, { protocolVersion: 5, keepalive: 120 });
    try {
      assert.equal(connack(capped).properties?.serverKeepAlive, 60);
    } finally {
      await closeAll(capped);
    }
  });

  test('unacknowledged QoS 1 and 2 messages are resent on reconnect with the same packet id and DUP', async () => {
    const pub = await connect(server.url);
    const first = await rawClient(server.port, 4);
    await first.connect('resend', { clean: false });
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sess/resend', qos: 2 }] });
    await first.expect((p) => p.cmd === 'suback');
    await pub.publishAsync('sess/resend', 'one', { qos: 1 });
    await pub.publishAsync('sess/resend', 'two', { qos: 2 });
    const p1 = (await first.expect((p) => p.cmd === 'publish')) as IPublishPacket;
    const p2 = (await first.expect((p) => p.cmd === 'publish')) as IPublishPacket;
    first.send({ cmd: 'pubrec', messageId: p2.messageId! });
    await first.expect((p) => p.cmd === 'pubrel');
    first.end();
    await first.closed;
    const second = await rawClient(server.port, 4);
    try {
      await second.connect('resend', { clean: false });
      const pubrel = await second.expect((p) => p.cmd === 'pubrel');
      assert.equal(pubrel.messageId, p2.messageId, 'PUBREL owed for the QoS 2 message');
      const again = (await second.expect((p) => p.cmd === 'publish')) as IPublishPacket;
      assert.equal(again.messageId, p1.messageId);
      assert.equal(again.dup, true);
      assert.equal(again.payload.toString(), 'one');
      second.send({ cmd: 'puback', messageId: again.messageId! });
      second.send({ cmd: 'pubcomp', messageId: p2.messageId! });
    } finally {
      second.end();
      await closeAll(pub);
    }
  });
});
