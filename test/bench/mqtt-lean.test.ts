import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { fork } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import mqttPacket from 'mqtt-packet';
import {
  encodeConnect,
  encodeSubscribe,
  LeanReader,
  PacketType,
  PublishTemplate,
  packetIdAt,
  publishPacketId,
  publishPayloadAt,
  writePuback,
} from '../../bench/mqtt-lean.js';
import { encodePublish } from '../../src/protocols/mqtt/codec/publish.js';
import { checkConnect, checkPacket, type PublishIn } from '../../src/protocols/mqtt/codec/wellformed.js';
import { decodeWhole } from '../../src/protocols/mqtt/parsers.js';
import { startMqttBroker } from '../../testing/mqtt-harness.js';
import { sleep, until } from '../../testing/wait.js';

interface Read {
  readonly type: number;
  readonly flags: number;
  readonly body: Buffer;
}

/** Every packet `reader` completes from `chunks`, its body copied out (the reader's view is lent). */
function readAll(reader: LeanReader, chunks: readonly Buffer[]): Read[] {
  const out: Read[] = [];
  for (const chunk of chunks) {
    reader.push(chunk, (type, flags, bytes, at, end) =>
      out.push({ type, flags, body: Buffer.from(bytes.subarray(at, end)) }),
    );
  }
  return out;
}

/** `bytes` cut into pieces of `size` bytes: packets split across reads, headers included. */
function pieces(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.byteLength; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

const payload = Buffer.alloc(256, 0x61);

describe('MQTT bench lean clients: the packets they write, as the broker codec reads them', () => {
  it('CONNECT is a 3.1.1 clean-session connect with the client id and keep alive given', () => {
    const frame = encodeConnect('lean-pub-1', 600);
    const facts = checkConnect(frame, 2);
    assert.ok(!('reason' in facts), JSON.stringify(facts));
    assert.equal(facts.version, 4);
    const packet = decodeWhole(facts.frame, 4);
    assert.ok(!(packet instanceof Error));
    assert.equal(packet.cmd, 'connect');
    assert.equal(packet.clientId, 'lean-pub-1');
    assert.equal(packet.keepalive, 600);
    assert.equal(packet.clean, true);
  });

  it('SUBSCRIBE names one filter at the QoS asked', () => {
    const frame = encodeSubscribe(1, 'bench/1/1/42', 1);
    assert.equal(checkPacket(frame, 2, 4), undefined);
    const packet = decodeWhole(frame, 4);
    assert.ok(!(packet instanceof Error) && packet.cmd === 'subscribe');
    assert.equal(packet.messageId, 1);
    assert.deepEqual(
      packet.subscriptions.map((s) => [s.topic, s.qos]),
      [['bench/1/1/42', 1]],
    );
  });

  it('each PUBLISH copy carries its own packet id and stamped payload, the rest as encoded once', () => {
    for (const qos of [0, 1] as const) {
      const template = new PublishTemplate('bench/x', qos, payload);
      const out = Buffer.alloc(template.bytes.byteLength * 2);
      for (const [i, id] of [7, 65_535].entries()) {
        const at = template.write(out, i * template.bytes.byteLength, id);
        out.writeUInt32LE(i, at + 8);
      }
      for (const [i, id] of [7, 65_535].entries()) {
        const frame = out.subarray(i * template.bytes.byteLength, (i + 1) * template.bytes.byteLength);
        const decoded = checkPacket(frame, 3, 4) as PublishIn;
        assert.equal(decoded.cmd, 'publish');
        assert.equal(decoded.topic, 'bench/x');
        assert.equal(decoded.qos, qos);
        assert.equal(decoded.messageId, qos === 0 ? undefined : id);
        assert.equal(decoded.payload.byteLength, 256);
        assert.equal(decoded.payload.readUInt32LE(8), i);
      }
    }
  });

  it('PUBACK acknowledges the packet id given', () => {
    const out = Buffer.alloc(8);
    assert.equal(writePuback(out, writePuback(out, 0, 1), 0xabcd), 8);
    for (const [at, id] of [
      [0, 1],
      [4, 0xabcd],
    ] as const) {
      const frame = out.subarray(at, at + 4);
      assert.equal(checkPacket(frame, 2, 4), undefined);
      const packet = decodeWhole(frame, 4);
      assert.ok(!(packet instanceof Error) && packet.cmd === 'puback');
      assert.equal(packet.messageId, id);
    }
  });
});

describe('MQTT bench lean clients: reading what a broker writes', () => {
  const v311 = { protocolVersion: 4 } as const;
  const stream = Buffer.concat([
    mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }, v311),
    mqttPacket.generate({ cmd: 'suback', messageId: 1, granted: [1] }, v311),
    encodePublish({ topic: 'a/b', payload, qos: 0, retain: false }, 4),
    encodePublish({ topic: 'a/bc', payload, qos: 1, retain: false, packetId: 513 }, 4),
    mqttPacket.generate({ cmd: 'puback', messageId: 300 }, v311),
    encodePublish({ topic: 'big', payload: Buffer.alloc(20_000, 1), qos: 1, retain: false, packetId: 2 }, 4),
  ]);

  for (const size of [stream.byteLength, 1, 2, 3, 7, 100, 4096]) {
    it(`finds each packet and its fields in reads of ${size} bytes`, () => {
      const read = readAll(new LeanReader(), pieces(stream, size));
      assert.deepEqual(
        read.map((r) => r.type),
        [
          PacketType.connack,
          PacketType.suback,
          PacketType.publish,
          PacketType.publish,
          PacketType.puback,
          PacketType.publish,
        ],
      );
      const [connack, suback, qos0, qos1, puback, big] = read;
      assert.equal(connack!.body[1], 0);
      assert.equal(packetIdAt(suback!.body, 0), 1);
      assert.equal(suback!.body[2], 1);
      assert.equal(publishPacketId(qos0!.flags, qos0!.body, 0), 0);
      assert.equal(publishPayloadAt(qos0!.flags, qos0!.body, 0), 2 + 3);
      assert.equal(publishPacketId(qos1!.flags, qos1!.body, 0), 513);
      assert.equal(publishPayloadAt(qos1!.flags, qos1!.body, 0), 2 + 4 + 2);
      assert.equal(qos1!.body.byteLength - publishPayloadAt(qos1!.flags, qos1!.body, 0), 256);
      assert.equal(packetIdAt(puback!.body, 0), 300);
      assert.equal(big!.body.byteLength - publishPayloadAt(big!.flags, big!.body, 0), 20_000);
    });
  }

  it('refuses a Remaining Length longer than four bytes', () => {
    assert.throws(() => new LeanReader().push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), () => {}));
  });
});

describe('MQTT bench lean clients against the broker', () => {
  it('a QoS 1 message goes from a lean publisher to a lean subscriber, both acknowledged', async () => {
    const broker = await startMqttBroker();
    const sockets: Socket[] = [];
    try {
      const open = (clientId: string) => {
        const reads: Read[] = [];
        const reader = new LeanReader();
        const socket = createConnection({ host: '127.0.0.1', port: broker.port });
        socket.on('data', (chunk: Buffer) => reads.push(...readAll(reader, [chunk])));
        socket.write(encodeConnect(clientId, 60));
        sockets.push(socket);
        return { socket, reads };
      };
      const sub = open('lean-sub');
      sub.socket.write(encodeSubscribe(1, 'lean/t', 1));
      await until(() => sub.reads.some((r) => r.type === PacketType.suback), 10_000, 'SUBACK');
      assert.equal(sub.reads[0]?.type, PacketType.connack);
      assert.equal(sub.reads[1]?.body[2], 1, 'QoS 1 granted');
      const pub = open('lean-pub');
      const template = new PublishTemplate('lean/t', 1, payload);
      const out = Buffer.alloc(template.bytes.byteLength);
      out.writeUInt32LE(77, template.write(out, 0, 9) + 8);
      pub.socket.write(out);
      await until(
        () => pub.reads.some((r) => r.type === PacketType.puback),
        10_000,
        'PUBACK to the publisher',
      );
      assert.equal(packetIdAt(pub.reads.find((r) => r.type === PacketType.puback)!.body, 0), 9);
      await until(() => sub.reads.some((r) => r.type === PacketType.publish), 10_000, 'delivery');
      const delivery = sub.reads.find((r) => r.type === PacketType.publish)!;
      assert.equal(delivery.body.readUInt32LE(publishPayloadAt(delivery.flags, delivery.body, 0) + 8), 77);
      const acks = Buffer.alloc(4);
      writePuback(acks, 0, publishPacketId(delivery.flags, delivery.body, 0));
      sub.socket.write(acks);
    } finally {
      for (const socket of sockets) socket.destroy();
      await broker.stop();
    }
  });
});

describe('MQTT bench lean client processes', () => {
  it('a lean subscriber process connects its lean client, and only that (no mqtt.js client instead or beside it)', async () => {
    const broker = await startMqttBroker();
    const script = fileURLToPath(new URL('../../bench/mqtt-lean-peer.js', import.meta.url));
    const child = fork(script, ['sub', String(broker.port), 'lean/one', '0', '10', '1'], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    try {
      const ready: unknown[] = [];
      child.on('message', (m: { type: string }) => {
        if (m.type === 'ready') ready.push(m);
      });
      await until(() => ready.length > 0, 10_000, 'the subscriber ready');
      // Time for a second client, had one been started, to connect and say it is ready too.
      await sleep(1_000);
      assert.equal(ready.length, 1, 'one ready');
      assert.equal(broker.broker.connectionsFrom('127.0.0.1'), 1, 'one connection');
      assert.ok(broker.broker.client().session(`lean-sub-${child.pid}-0`) !== undefined, 'the lean client');
    } finally {
      child.kill('SIGKILL');
      await broker.stop();
    }
  });
});
