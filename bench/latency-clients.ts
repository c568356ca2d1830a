/**
 * The clients of `npm run bench -- latency` (bench/latency.ts), in the bench process or in forked ones
 * (testing/latency-bench-peer.ts, `LATENCY_CLIENTS=split`): one side of a protocol's path each. 256 B
 * payloads carrying the message's index.
 */
import type { Socket } from 'node:net';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { ApiKey, encodeRecordBatch } from '../src/protocols/kafka/codec/index.js';
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
          .then(() => arrived(i));
      },
      close: async () => {
        conn.socket.destroy();
      },
    };
  };
