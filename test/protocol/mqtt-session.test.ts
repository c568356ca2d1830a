/**
 * MQTT sessions without a socket: the broker's connection code over an in-memory transport
 * (`Broker.accept`, testing/transport-pair.ts), time on a manual clock, so keep-alive and will-delay
 * rules are checked in milliseconds. What mqtt.js sees of them is in test/conformance/mqtt and
 * test/e2e/protocol-timers.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { ManualClock } from '../../src/shared/clock.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { ScramClient } from '../../testing/scram-client.js';
import { type MemoryTransport, transportPair } from '../../testing/transport-pair.js';
import { until } from '../../testing/wait.js';

const clock = new ManualClock();
let broker: TestBroker;

before(async () => {
  broker = await startTestBroker({ clock });
});
after(() => broker.stop());

interface Client {
  readonly end: MemoryTransport;
  /** The broker's end of the pair. */
  readonly brokerEnd: MemoryTransport;
  readonly packets: Packet[];
  closed: boolean;
  send(packet: Packet): void;
  next(cmd: Packet['cmd']): Promise<Packet>;
}

function connect(version: 4 | 5 = 5): Client {
  const [brokerEnd, end] = transportPair();
  void broker.broker.accept('mqtt', brokerEnd);
  const parser = mqttPacket.parser({ protocolVersion: version });
  const client: Client = {
    end,
    brokerEnd,
    packets: [],
    closed: false,
    send: (packet) => end.write(mqttPacket.generate(packet, { protocolVersion: version })),
    async next(cmd) {
      let found: Packet | undefined;
      await until(
        () => {
          const i = client.packets.findIndex((p) => p.cmd === cmd);
          if (i >= 0) found = client.packets.splice(i, 1)[0];
          return found !== undefined;
        },
        5000,
        cmd,
      );
      return found!;
    },
  };
  parser.on('packet', (packet: Packet) => client.packets.push(packet));
  end.attach({ data: (chunk) => void parser.parse(chunk), closed: () => (client.closed = true) });
  return client;
}

function connectPacket(clientId: string, extra: Record<string, unknown> = {}): Packet {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 5,
    clean: true,
    clientId,
    keepalive: 0,
    ...extra,
  } as Packet;
}

const turns = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

test('keep-alive: silent for one and a half intervals, the client is disconnected with 0x8D', async () => {
  const client = connect();
  client.send(connectPacket('keeper', { keepalive: 10 }));
  await client.next('connack');
  clock.advance(10_000);
  client.send({ cmd: 'pingreq' });
  await client.next('pingresp');
  clock.advance(14_999);
  await turns();
  assert.equal(client.closed, false, 'the PINGREQ renewed it');
  clock.advance(1);
  const disconnect = await client.next('disconnect');
  assert.equal((disconnect as { reasonCode?: number }).reasonCode, 0x8d);
  await until(() => client.closed, 5000, 'closed');
});

test('keep-alive: a client not read while its answers back up is not timed out while it takes bytes; once it stops, it is', async () => {
  const client = connect();
  client.send(connectPacket('slow-reader', { keepalive: 10 }));
  await client.next('connack');
  // The broker's end reports 8 MiB unsent, as a socket to a client on a slow link with a large message.
  let taken = 0;
  Object.defineProperty(client.brokerEnd, 'bufferedBytes', { get: () => 8 * 1024 * 1024 });
  Object.assign(client.brokerEnd, { octets: () => ({ read: 0, written: 8 * 1024 * 1024 + taken }) });
  client.send({ cmd: 'pingreq' });
  await client.next('pingresp');
  await turns();
  assert.equal(client.brokerEnd.paused, true, 'not read while its answers back up');
  client.send({ cmd: 'pingreq' }); // not read: the broker holds it
  for (let look = 0; look < 4; look++) {
    taken += 100_000;
    clock.advance(15_000);
    await turns();
    assert.equal(client.closed, false, `still taking bytes at look ${look}`);
  }
  clock.advance(15_000);
  await until(() => client.closed, 5000, 'timed out once it took nothing');
});

test('will delay: the will is published when the delay is over, not when the connection drops', async () => {
  const watcher = connect();
  watcher.send(connectPacket('watcher'));
  await watcher.next('connack');
  watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 0 }] } as Packet);
  await watcher.next('suback');

  const dying = connect();
  dying.send(
    connectPacket('dying', {
      properties: { sessionExpiryInterval: 120 },
      will: {
        topic: 'wills/dying',
        payload: Buffer.from('gone'),
        qos: 0,
        retain: false,
        properties: { willDelayInterval: 30 },
      },
    }),
  );
  await dying.next('connack');
  dying.end.destroy();
  await turns();
  clock.advance(29_999);
  await turns();
  assert.equal(watcher.packets.filter((p) => p.cmd === 'publish').length, 0, 'not before the delay');
  clock.advance(1);
  const will = (await watcher.next('publish')) as { topic: string; payload: Buffer };
  assert.equal(will.topic, 'wills/dying');
  assert.equal(will.payload.toString(), 'gone');
});

test('enhanced authentication: a client that stops after AUTH 0x18 is closed at the CONNECT deadline', async () => {
  const core = broker.broker.client('/');
  await core.putUser('sam', 'sam-pw', []);
  await core.setPermission('/', 'sam', { configure: '.*', write: '.*', read: '.*' });
  const scram = new ScramClient('sha256', 'sam', 'sam-pw');
  const properties = {
    authenticationMethod: 'SCRAM-SHA-256',
    authenticationData: Buffer.from(scram.first()),
  };
  const stalled = connect();
  stalled.send(connectPacket('stalled', { properties }));
  const challenge = await stalled.next('auth');
  assert.equal((challenge as { reasonCode?: number }).reasonCode, 0x18);
  clock.advance(9_999);
  await turns();
  assert.equal(stalled.closed, false, 'still within the 10 s to finish logging in');
  clock.advance(1);
  await until(() => stalled.closed, 5000, 'closed at the CONNECT deadline');
  assert.equal(
    stalled.packets.some((p) => p.cmd === 'connack'),
    false,
  );

  // One that finishes in time is connected, and from then on the deadline no longer applies.
  const prompt = connect();
  prompt.send(connectPacket('prompt', { properties }));
  const serverFirst = ((await prompt.next('auth')) as { properties?: { authenticationData?: Buffer } })
    .properties?.authenticationData;
  const clientFinal = Buffer.from(scram.final(serverFirst?.toString() ?? ''));
  prompt.send({
    cmd: 'auth',
    reasonCode: 0x18,
    properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: clientFinal },
  });
  assert.equal(((await prompt.next('connack')) as { reasonCode?: number }).reasonCode, 0);
  clock.advance(20_000);
  await turns();
  assert.equal(prompt.closed, false);
  prompt.send({ cmd: 'disconnect' });
});

test('the session queue is declared at the first SUBSCRIBE; a resumed session gets what came meanwhile', async () => {
  const core = broker.broker.client('/');
  const queued = () => core.listQueues().some((q) => q.name === 'session.lazy-keeper');
  const persistent = { clean: false, properties: { sessionExpiryInterval: 600 } };
  const keeper = connect();
  keeper.send(connectPacket('lazy-keeper', persistent));
  await keeper.next('connack');
  assert.equal(queued(), false, 'a client that has not subscribed has no queue');
  keeper.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'lazy/#', qos: 1 }] } as Packet);
  await keeper.next('suback');
  assert.equal(queued(), true);
  keeper.send({ cmd: 'disconnect' } as Packet);
  await until(() => keeper.closed, 5000, 'keeper closed');

  const publisher = connect();
  publisher.send(connectPacket('lazy-publisher'));
  await publisher.next('connack');
  assert.equal(
    core.listQueues().some((q) => q.name === 'session.lazy-publisher'),
    false,
    'a publisher costs no queue',
  );
  const message = {
    cmd: 'publish',
    messageId: 7,
    topic: 'lazy/a',
    payload: Buffer.from('while away'),
    qos: 1,
  };
  publisher.send(message as Packet);
  await publisher.next('puback');

  const back = connect();
  back.send(connectPacket('lazy-keeper', persistent));
  assert.equal(((await back.next('connack')) as { sessionPresent: boolean }).sessionPresent, true);
  const delivered = (await back.next('publish')) as { topic: string; payload: Buffer };
  assert.equal(delivered.topic, 'lazy/a');
  assert.equal(delivered.payload.toString(), 'while away');
  back.send({ cmd: 'disconnect' } as Packet);
  publisher.send({ cmd: 'disconnect' } as Packet);
});

test('messages published during a session takeover reach the new connection, none handed round the old one', async () => {
  const persistent = { clean: false, properties: { sessionExpiryInterval: 600 } };
  const first = connect();
  first.send(connectPacket('takeover-keeper', persistent));
  await first.next('connack');
  first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'takeover/#', qos: 1 }] } as Packet);
  await first.next('suback');
  const publisher = connect();
  publisher.send(connectPacket('takeover-publisher'));
  await publisher.next('connack');

  const messagesTotal = 50;
  const second = connect();
  for (let i = 1; i <= messagesTotal; i++) {
    publisher.send({
      cmd: 'publish',
      messageId: i,
      topic: 'takeover/a',
      payload: Buffer.from(`m${i}`),
      qos: 1,
    } as Packet);
    // The takeover lands in the middle of the stream: the first connection is closing while the
    // queue still holds its consumer.
    if (i === 10) second.send(connectPacket('takeover-keeper', persistent));
  }
  await second.next('connack');
  const seen = new Set<string>();
  await until(
    () => {
      for (let p = second.packets.findIndex((x) => x.cmd === 'publish'); p >= 0; ) {
        const packet = second.packets.splice(p, 1)[0] as { payload: Buffer; messageId?: number };
        seen.add(packet.payload.toString());
        if (packet.messageId !== undefined)
          second.send({ cmd: 'puback', messageId: packet.messageId } as Packet);
        p = second.packets.findIndex((x) => x.cmd === 'publish');
      }
      const firstGot = first.packets.filter((x) => x.cmd === 'publish').length;
      return seen.size + firstGot >= messagesTotal;
    },
    10_000,
    'every message delivered once the takeover is done',
  );
  second.send({ cmd: 'disconnect' } as Packet);
  publisher.send({ cmd: 'disconnect' } as Packet);
});

test('a shared SUBSCRIBE still being saved when its connection drops leaves no consumer behind', async () => {
  const core = broker.broker.client('/');
  const member = (id: string) => {
    const client = connect();
    client.send(connectPacket(id));
    return client;
  };
  const subscribe = {
    cmd: 'subscribe',
    messageId: 1,
    subscriptions: [{ topic: '$share/late/s/t', qos: 1 }],
  } as Packet;
  const gone = member('share-gone');
  await gone.next('connack');
  // The SUBSCRIBE and the end of the connection in one turn: the save finishes after the teardown.
  gone.send(subscribe);
  gone.end.end();
  await until(() => gone.closed, 5000, 'gone closed');
  await turns(10);
  const queue = core.listQueues().find((q) => q.name.includes('late'));
  assert.equal(queue?.consumerCount ?? 0, 0, 'no consumer of the closed connection');

  const stays = member('share-stays');
  await stays.next('connack');
  stays.send(subscribe);
  await stays.next('suback');
  const publisher = member('share-publisher');
  await publisher.next('connack');
  publisher.send({
    cmd: 'publish',
    messageId: 2,
    topic: 's/t',
    payload: Buffer.from('one'),
    qos: 1,
  } as Packet);
  await publisher.next('puback');
  const delivered = (await stays.next('publish')) as { payload: Buffer };
  assert.equal(delivered.payload.toString(), 'one');
  stays.send({ cmd: 'disconnect' } as Packet);
  publisher.send({ cmd: 'disconnect' } as Packet);
});

test('pipelined QoS 1 and 2 publishes are each answered once, in the order sent, and their deliveries acked', async () => {
  const subscriber = connect(4);
  subscriber.send(connectPacket('pipe-sub', { protocolVersion: 4 }));
  await subscriber.next('connack');
  subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'pipe/#', qos: 1 }] } as Packet);
  await subscriber.next('suback');
  const publisher = connect(4);
  publisher.send(connectPacket('pipe-pub', { protocolVersion: 4 }));
  await publisher.next('connack');
  const count = 40;
  // One write: every publish of it is handled in the same turn, so their confirmations share one promise.
  const publishes = Array.from({ length: count }, (_, i) =>
    mqttPacket.generate(
      {
        cmd: 'publish',
        messageId: i + 1,
        topic: 'pipe/a',
        payload: Buffer.from(`m${i}`),
        qos: i % 4 === 3 ? 2 : 1,
      } as Packet,
      { protocolVersion: 4 },
    ),
  );
  publisher.end.write(Buffer.concat(publishes));
  await until(() => publisher.packets.length >= count, 5000, 'every publish answered');
  await turns();
  const answers = publisher.packets.splice(0) as Array<{ cmd: string; messageId: number }>;
  assert.deepEqual(
    answers.map((p) => `${p.cmd} ${p.messageId}`),
    Array.from({ length: count }, (_, i) => `${i % 4 === 3 ? 'pubrec' : 'puback'} ${i + 1}`),
  );
  // Delivered at QoS 1 (the subscription's), each acknowledged, and each acknowledgement reaches the queue.
  await until(() => subscriber.packets.filter((p) => p.cmd === 'publish').length >= count, 5000, 'delivered');
  const delivered = subscriber.packets.splice(0) as Array<{
    cmd: string;
    messageId: number;
    payload: Buffer;
  }>;
  assert.deepEqual(
    delivered.map((p) => p.payload.toString()),
    Array.from({ length: count }, (_, i) => `m${i}`),
  );
  for (const p of delivered) subscriber.send({ cmd: 'puback', messageId: p.messageId } as Packet);
  const core = broker.broker.client('/');
  await until(() => core.queueCounts('session.pipe-sub')?.acked === count, 5000, 'every delivery acked');
  publisher.send({ cmd: 'disconnect' } as Packet);
  subscriber.send({ cmd: 'disconnect' } as Packet);
});

test('publishes a full queue refuses are answered 0x97 in order, and a refused QoS 2 id is free again', async () => {
  const core = broker.broker.client('/');
  core.declareQueue('mqtt-full', { durable: false, lengthMax: 1, overflow: 'reject-publish' });
  core.bindQueue('mqtt-full', 'amq.topic', 'full.#');
  const publisher = connect(5);
  publisher.send(connectPacket('full-pub'));
  await publisher.next('connack');
  const publish = (messageId: number, qos: 1 | 2) =>
    mqttPacket.generate(
      { cmd: 'publish', messageId, topic: 'full/a', payload: Buffer.from('x'), qos } as Packet,
      { protocolVersion: 5 },
    );
  // The first fits; the next three do not. One write, so the four are handled in one turn.
  publisher.end.write(Buffer.concat([publish(1, 1), publish(2, 1), publish(3, 2), publish(4, 1)]));
  await until(() => publisher.packets.length >= 4, 5000, 'four answers');
  const answers = publisher.packets.splice(0) as Array<{
    cmd: string;
    messageId: number;
    reasonCode?: number;
  }>;
  assert.deepEqual(
    answers.map((p) => `${p.cmd} ${p.messageId} ${p.reasonCode ?? 0}`),
    ['puback 1 0', 'puback 2 151', 'pubrec 3 151', 'puback 4 151'],
  );
  // §4.3.3: a PUBREC with a failure ends the exchange, so the id is not awaiting a PUBREL.
  publisher.send({ cmd: 'pubrel', messageId: 3 } as Packet);
  const pubcomp = (await publisher.next('pubcomp')) as { reasonCode?: number };
  assert.equal(pubcomp.reasonCode, 0x92);
  publisher.send({ cmd: 'disconnect' } as Packet);
});

test('a write that throws mid-batch closes that connection only: no exception escapes, the others get their answers, the message comes back', async () => {
  const escaped: unknown[] = [];
  const onUncaught = (err: unknown) => escaped.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    const session = { clean: false, properties: { sessionExpiryInterval: 120 } };
    const failing = connect();
    failing.send(connectPacket('write-fails', session));
    await failing.next('connack');
    const other = connect();
    other.send(connectPacket('write-works'));
    await other.next('connack');
    for (const client of [failing, other]) {
      client.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: [{ topic: 'faults/t', qos: 1 }],
      } as Packet);
      await client.next('suback');
    }
    // From now on the broker's end of `failing` throws, as an embedder's socket destroyed between writes.
    failing.brokerEnd.write = () => {
      throw new Error('write after destroy');
    };
    // One turn answers both: `other`'s PUBACK and PUBLISH, and `failing`'s PUBLISH, in one batch of writes.
    other.send({
      cmd: 'publish',
      topic: 'faults/t',
      payload: Buffer.from('m'),
      qos: 1,
      messageId: 7,
    } as Packet);
    await other.next('puback');
    await other.next('publish');
    await until(() => failing.closed, 5000, 'the failing connection closed');
    assert.deepEqual(escaped, [], 'nothing escaped to the event loop');
    // Recorded as in flight, so the session resends it: with DUP, as a message that may have been sent.
    const again = connect();
    again.send(connectPacket('write-fails', session));
    await again.next('connack');
    const resent = (await again.next('publish')) as { dup?: boolean; payload: Buffer };
    assert.equal(resent.dup, true);
    assert.equal(resent.payload.toString(), 'm');
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
