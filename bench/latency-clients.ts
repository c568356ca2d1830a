/**
 * The clients of `npm run bench -- latency` (bench/latency.ts), in the bench process or in forked ones
 * (testing/latency-bench-peer.ts, `LATENCY_CLIENTS=split`): one side of a protocol's path each. 256 B
 * payloads carrying the message's index.
 */
import type { Socket } from 'node:net';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import {
  ApiKey,
  encodeRecordBatch,
  frameRequest,
  kafkaApiByKey,
  writeMessage,
} from '../src/protocols/kafka/codec/index.js';
import { crc32c } from '../src/shared/crc32c.js';
import { Conn } from './kafka.js';

export const payloadBytes = 256;
const setupTimeoutMs = 30_000;

export function payloadOf(index: number): Buffer {
  const payload = Buffer.alloc(payloadBytes);
  payload.writeUInt32BE(index, 0);
  return payload;
}

/** One side's client: `send(i)` sends message i; a receiving side calls `arrived(i)` when it is back. */
export interface Side {
  send(index: number): void;
  close(): Promise<void>;
}

export type SideFactory = (port: number, name: string, arrived: (index: number) => void) => Promise<Side>;

/** amqplib: `sendToQueue` to the transient auto-delete queue `name`; a receiver declares and consumes it (auto-ack). */
export const amqpSide =
  (receives: boolean, noDelay: boolean): SideFactory =>
  async (port, name, arrived) => {
    const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`, { noDelay });
    const channel = await connection.createChannel();
    if (receives) {
      await channel.assertQueue(name, { durable: false, autoDelete: true });
      await channel.consume(name, (msg) => msg && arrived(msg.content.readUInt32BE(0)), { noAck: true });
    }
    return { send: (i) => channel.sendToQueue(name, payloadOf(i)), close: () => connection.close() };
  };

/** mqtt.js 3.1.1: QoS 1 publishes to `bench/<name>`; a receiver subscribes at QoS 1. */
export const mqttSide =
  (receives: boolean, noDelay: boolean): SideFactory =>
  async (port, name, arrived) => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: setupTimeoutMs,
      clientId: `${name}-${receives ? 'sub' : 'pub'}`,
    });
    (client.stream as Socket).setNoDelay(noDelay);
    const topic = `bench/${name}`;
    if (receives) {
      await client.subscribeAsync(topic, { qos: 1 });
      client.on('message', (_topic, payload) => arrived(payload.readUInt32BE(0)));
    }
    return { send: (i) => client.publish(topic, payloadOf(i), { qos: 1 }), close: () => client.endAsync() };
  };

/**
 * `LATENCY_KAFKA_ENCODE=template`: each Produce is a copy of one request encoded at the start, with its
 * correlation id, the record's index and the batch's CRC-32C written in (`produceTemplate`); the
 * default (`each`) encodes every request through the project's codec, 25–45 µs of the bench process's
 * CPU per request at this bench's rates, where librdkafka's native encoding costs a few.
 */
const kafkaTemplate = process.env['LATENCY_KAFKA_ENCODE'] === 'template';

/** Record batch v2 (KIP-98): the CRC-32C sits at byte 17 and covers the batch from byte 21 on. */
const batchCrcOffset = 17;
const batchCrcStart = 21;
/** A request frame: size (4), api key (2), api version (2), then the correlation id. */
const correlationOffset = 8;
/** The index the template's payload carries, found again to place each message's own. */
const templateIndex = 0x5a17c0de;

/** One Produce v7 of one 256 B record to partition 0 of `topic`, with where its varying fields are. */
export function produceTemplate(topic: string) {
  const records = encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: [{ value: payloadOf(templateIndex) }],
  });
  const body = {
    acks: -1,
    timeoutMs: 30_000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  };
  const header = { requestApiKey: ApiKey.Produce, requestApiVersion: 7, correlationId: 0, clientId: 'bench' };
  const frame = Buffer.from(
    frameRequest(header, (w) => writeMessage(w, kafkaApiByKey.get(ApiKey.Produce)!.request, body, 7)),
  );
  const batchAt = frame.indexOf(Buffer.from(records));
  const valueAt = frame.indexOf(payloadOf(templateIndex));
  if (batchAt < 0 || valueAt < batchAt || frame.readInt32BE(correlationOffset) !== 0)
    throw new Error('latency bench: the Produce template does not have the layout expected');
  return { frame, batchAt, batchEnd: batchAt + records.length, valueAt };
}

/**
 * Whether a Produce v7 answer of one topic and one partition carries no error: after the correlation id
 * (4), the topic count (4), the name (2 + its bytes), the partition count (4) and the index (4). An
 * answer with an error is not counted as the message's arrival, so a request the broker refused shows
 * as lost.
 */
export function produceAccepted(frame: Uint8Array, topic: string): boolean {
  const errorAt = 18 + Buffer.byteLength(topic);
  return frame.length >= errorAt + 2 && new DataView(frame.buffer, frame.byteOffset).getInt16(errorAt) === 0;
}

/** `kafkaSide`'s sending with `LATENCY_KAFKA_ENCODE=template`: a copy of the template per message. */
export function templateSender(
  conn: Conn,
  topic: string,
  arrived: (index: number) => void,
): (i: number) => void {
  const t = produceTemplate(topic);
  return (i) => {
    const frame = Buffer.allocUnsafe(t.frame.length);
    t.frame.copy(frame);
    const correlationId = conn.correlation++;
    frame.writeInt32BE(correlationId, correlationOffset);
    frame.writeUInt32BE(i, t.valueAt);
    frame.writeUInt32BE(crc32c(frame, t.batchAt + batchCrcStart, t.batchEnd), t.batchAt + batchCrcOffset);
    conn.pending.set(correlationId, (answer) => produceAccepted(answer, topic) && arrived(i));
    conn.socket.write(frame);
  };
}

/** The wire client of bench/kafka.ts, one record per Produce (v7), acks=all; `arrived(i)` on its response. */
export const kafkaSide =
  (noDelay: boolean): SideFactory =>
  async (port, name, arrived) => {
    const conn = await Conn.open(port);
    conn.socket.setNoDelay(noDelay);
    await conn.request(ApiKey.CreateTopics, 4, {
      topics: [{ name, numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 5000,
    });
    if (kafkaTemplate)
      return { send: templateSender(conn, name, arrived), close: async () => void conn.socket.destroy() };
    return {
      send: (i) => {
        const records = encodeRecordBatch({
          baseTimestamp: BigInt(Date.now()),
          records: [{ value: payloadOf(i) }],
        });
        conn
          .request(ApiKey.Produce, 7, {
            acks: -1,
            timeoutMs: 30_000,
            topicData: [{ name, partitionData: [{ index: 0, records }] }],
          })
          .then((answer) => produceAccepted(answer, name) && arrived(i));
      },
      close: async () => {
        conn.socket.destroy();
      },
    };
  };
