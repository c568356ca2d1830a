/**
 * The lean client side of `npm run bench -- mqtt lean`: the roles, arguments and parent messages of
 * testing/mqtt-bench-peer.ts (clean sessions, QoS 0 and 1 only), over raw sockets with the packets of
 * bench/mqtt-lean.ts instead of mqtt.js. A publisher writes each credit's messages as one buffer of
 * copies of one encoded PUBLISH (one timestamp per buffer: its messages leave together); a subscriber
 * answers the QoS 1 messages of one socket read with one write of their PUBACKs.
 */
import { Buffer } from 'node:buffer';
import { createConnection, type Socket } from 'node:net';
import { nowMs, publisherRun, subscriberRun } from '../testing/mqtt-bench-peer.js';
import {
  encodeConnect,
  encodeSubscribe,
  LeanReader,
  type OnPacket,
  PacketType,
  PublishTemplate,
  packetIdAt,
  pubackBytes,
  publishPacketId,
  publishPayloadAt,
  writePuback,
} from './mqtt-lean.js';

type Qos = 0 | 1;
const payloadBytes = 256;
/** No child outlives this, whatever the parent does. */
const lifetimeMs = 300_000;
const keepAliveSec = 600;
const setupTimeoutMs = 30_000;
const packetIdMax = 65_535;
const disconnect = Buffer.from([0xe0, 0x00]);

/** One connection: a socket, its reader, and what is done with each packet once set up. */
class LeanClient {
  readonly socket: Socket;
  readonly #reader = new LeanReader();
  onPacket: OnPacket = () => {};
  /** Runs after each read's packets: a subscriber's PUBACKs of that read go out in one write. */
  afterRead: () => void = () => {};

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#reader.push(chunk, this.onPacket);
      this.afterRead();
    });
  }

  static open(port: number, clientId: string): Promise<LeanClient> {
    const socket = createConnection({ host: '127.0.0.1', port, noDelay: true });
    const client = new LeanClient(socket);
    socket.write(encodeConnect(clientId, keepAliveSec));
    return client.#awaitOne(PacketType.connack, (bytes, at) => bytes[at + 1] === 0, 'CONNACK refused');
  }

  /** SUBSCRIBE one filter; resolves on a SUBACK that grants it. */
  subscribe(filter: string, qos: Qos): Promise<LeanClient> {
    this.socket.write(encodeSubscribe(1, filter, qos));
    return this.#awaitOne(
      PacketType.suback,
      (bytes, at) => packetIdAt(bytes, at) === 1 && bytes[at + 2] !== 0x80,
      'SUBACK refused',
    );
  }

  #awaitOne(
    type: number,
    ok: (bytes: Buffer, bodyAt: number) => boolean,
    refused: string,
  ): Promise<LeanClient> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer in ${setupTimeoutMs} ms`)), setupTimeoutMs);
      this.socket.once('error', reject);
      this.onPacket = (t, _flags, bytes, at) => {
        if (t !== type) return;
        clearTimeout(timer);
        this.onPacket = () => {};
        if (ok(bytes, at)) resolve(this);
        else reject(new Error(refused));
      };
    });
  }

  close(): void {
    this.socket.end(disconnect);
  }
}

async function runPub(port: number, topic: string, qos: Qos, messages: number, inFlightMax: number) {
  const pub = await LeanClient.open(port, `lean-pub-${process.pid}`);
  const template = new PublishTemplate(topic, qos, Buffer.alloc(payloadBytes, 0x61));
  const size = template.bytes.byteLength;
  let sent = 0;
  let credited = 0;
  let acked = 0;
  // At QoS 1 the broker's PUBACKs bound the window too: never more unconfirmed than `inFlightMax`.
  const unconfirmed = () => (qos === 0 ? 0 : sent - acked);
  const pump = (): void => {
    const n = Math.min(messages - sent, inFlightMax - (sent - credited), inFlightMax - unconfirmed());
    if (n <= 0) return;
    const batch = Buffer.allocUnsafe(n * size);
    const stamp = nowMs();
    for (let i = 0; i < n; i++) {
      const payloadAt = template.write(batch, i * size, (sent % packetIdMax) + 1);
      batch.writeDoubleLE(stamp, payloadAt);
      batch.writeUInt32LE(sent, payloadAt + 8);
      sent++;
    }
    pub.socket.write(batch);
  };
  let running = false;
  pub.onPacket = (type) => {
    if (type === PacketType.puback) acked++;
  };
  pub.afterRead = () => {
    if (running) pump();
  };
  await publisherRun(
    (done) => {
      running = true;
      credited = done;
      pump();
    },
    () => sent,
  );
  running = false;
  pub.close();
}

async function runSub(port: number, topic: string, qos: Qos, messages: number, subscribers: number) {
  const subs = await Promise.all(
    Array.from({ length: subscribers }, (_, i) => LeanClient.open(port, `lean-sub-${process.pid}-${i}`)),
  );
  await subscriberRun(messages, subscribers, async (completions) => {
    const received = (bytes: Buffer, payloadAt: number): void =>
      completions.receive(bytes.readUInt32LE(payloadAt + 8), bytes.readDoubleLE(payloadAt));
    await Promise.all(subs.map((s) => s.subscribe(topic, qos)));
    for (const sub of subs) receiveInto(sub, qos, received);
  });
  for (const sub of subs) sub.close();
}

/** Each PUBLISH goes to `received`; at QoS 1 the packet ids of one read are PUBACKed in one write. */
function receiveInto(sub: LeanClient, qos: Qos, received: (bytes: Buffer, payloadAt: number) => void): void {
  const owed: number[] = [];
  sub.onPacket = (type, flags, bytes, bodyAt) => {
    if (type !== PacketType.publish) return;
    received(bytes, publishPayloadAt(flags, bytes, bodyAt));
    if (qos === 1) owed.push(publishPacketId(flags, bytes, bodyAt));
  };
  if (qos === 0) return;
  sub.afterRead = () => {
    if (owed.length === 0) return;
    const acks = Buffer.allocUnsafe(owed.length * pubackBytes);
    let at = 0;
    for (const id of owed) at = writePuback(acks, at, id);
    owed.length = 0;
    sub.socket.write(acks);
  };
}

async function main(): Promise<void> {
  const [role, port, topic, qos, messages, count] = process.argv.slice(2);
  const lifetime = setTimeout(() => process.exit(3), lifetimeMs);
  process.once('disconnect', () => process.exit(0));
  if (qos !== '0' && qos !== '1') throw new Error(`lean clients speak QoS 0 and 1, not ${qos}`);
  const q = qos === '1' ? 1 : 0;
  if (role === 'pub') await runPub(Number(port), topic!, q, Number(messages), Number(count));
  else if (role === 'sub') await runSub(Number(port), topic!, q, Number(messages), Number(count));
  else throw new Error(`unknown role ${role}`);
  clearTimeout(lifetime);
  process.removeAllListeners('disconnect');
  process.disconnect?.();
}

if (process.send !== undefined && process.argv[2] !== undefined) await main();
