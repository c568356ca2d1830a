/**
 * `switchyard bench kafka`'s two connections, in Kafka's protocol written with the broker's own codec
 * (as `bench amqp` uses the AMQP one), so it works from an installed package without kafkajs. The run
 * creates its topic (CreateTopics v4, one partition), then a reader long-polls it from offset 0 with
 * Fetch v11 while the publisher sends what the pump hands it as one record batch per turn of the
 * event loop (Produce v7): `--qos 0` with acks=0 (no answer), `--qos 1` with acks=-1 (each batch
 * answered once written; an error ends the run). With `--user`, both log in with SASL PLAIN (KIP-43).
 */
import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import {
  ApiKey,
  batchSizeAt,
  decodeMessage,
  decodeRecords,
  decodeResponseHeader,
  encodeRecordBatch,
  FrameSplitter,
  frameRequest,
  KafkaReader,
  kafkaApiByKey,
  responseHeaderVersion,
  writeMessage,
} from '../src/protocols/kafka/codec/index.js';
import { type BenchPeers, type BenchSettings, failureSignal } from './bench-peers.js';

const connectTimeoutMs = 10_000;
const frameBytesMax = 64 * 1024 * 1024;
const fetchWaitMs = 500;
const fetchBytesMax = 16 * 1024 * 1024;
/** Records sent in one batch at most. */
const batchRecordsMax = 1000;
/** Kafka's TOPIC_ALREADY_EXISTS. */
const topicExists = 36;

type Body = Record<string, unknown>;
type Waiter = {
  apiKey: number;
  version: number;
  resolve: (body: Body) => void;
  reject: (err: Error) => void;
};

/** One Kafka connection: requests out, answers matched by correlation id (Kafka answers in order). */
class Peer {
  readonly #socket: Socket;
  readonly #where: string;
  readonly #splitter = new FrameSplitter(frameBytesMax);
  readonly #waiting = new Map<number, Waiter>();
  #correlation = 1;
  #failure: Error | undefined;

  private constructor(socket: Socket, where: string) {
    this.#socket = socket;
    this.#where = where;
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const frame of this.#splitter.push(chunk)) this.#answer(frame);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('close', () => this.#fail(new Error(`${where}: the broker closed the connection`)));
    socket.on('error', (err) => this.#fail(new Error(`${where}: ${err.message}`)));
  }

  static open(s: BenchSettings, clientId: string): Promise<Peer> {
    const where = `kafka://${s.host}:${s.port}`;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: s.host, port: s.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => socket.destroy(new Error('no connection in time')), connectTimeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`${where}: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        const peer = new Peer(socket, where);
        peer.login(s, clientId).then(() => resolve(peer), reject);
      });
    });
  }

  /**
   * SASL PLAIN when a user is given and the port offers SASL (KIP-43: SaslHandshake, then
   * SaslAuthenticate, KIP-152); a port without SASL (a loopback broker's default) answers the
   * handshake with ILLEGAL_SASL_STATE and no mechanisms, and is used as it is.
   */
  async login(s: BenchSettings, clientId: string): Promise<void> {
    if (s.user === undefined) return;
    const handshake = await this.request(ApiKey.SaslHandshake, 1, { mechanism: 'PLAIN' }, clientId);
    const mechanisms = handshake['mechanisms'] as string[];
    if (handshake['errorCode'] !== 0 && mechanisms.length === 0) return;
    if (handshake['errorCode'] !== 0)
      throw new Error(`${this.#where}: SASL PLAIN is not offered (${mechanisms.join(', ')})`);
    const authBytes = Buffer.from(`\u0000${s.user}\u0000${s.password ?? ''}`);
    const answer = await this.request(ApiKey.SaslAuthenticate, 1, { authBytes }, clientId);
    if (answer['errorCode'] !== 0) throw new Error(`${this.#where}: ${String(answer['errorMessage'])}`);
  }

  /** Sends a request; resolves with its answer (never, for a Produce with acks=0: use `send`). */
  request(apiKey: number, version: number, body: object, clientId: string): Promise<Body> {
    return new Promise((resolve, reject) => {
      if (this.#failure !== undefined) return reject(this.#failure);
      const id = this.send(apiKey, version, body, clientId);
      this.#waiting.set(id, { apiKey, version, resolve, reject });
    });
  }

  send(apiKey: number, version: number, body: object, clientId: string): number {
    const api = kafkaApiByKey.get(apiKey)!;
    const correlationId = this.#correlation++;
    const header = { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId };
    this.#socket.write(frameRequest(header, (w) => writeMessage(w, api.request, body, version)));
    return correlationId;
  }

  #answer(frame: Uint8Array): void {
    const r = new KafkaReader(frame);
    const correlationId = new DataView(frame.buffer, frame.byteOffset, 4).getInt32(0);
    const waiter = this.#waiting.get(correlationId);
    if (waiter === undefined) return;
    this.#waiting.delete(correlationId);
    decodeResponseHeader(r, responseHeaderVersion(waiter.apiKey, waiter.version));
    waiter.resolve(decodeMessage(kafkaApiByKey.get(waiter.apiKey)!.response, r, waiter.version) as Body);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const waiter of this.#waiting.values()) waiter.reject(this.#failure);
    this.#waiting.clear();
  }

  close(): void {
    this.#failure ??= new Error('closed');
    this.#socket.destroy();
  }
}

async function createTopic(peer: Peer, topic: string, clientId: string): Promise<void> {
  const answer = await peer.request(
    ApiKey.CreateTopics,
    4,
    {
      topics: [{ name: topic, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }],
      timeoutMs: connectTimeoutMs,
      validateOnly: false,
    },
    clientId,
  );
  const [result] = answer['topics'] as Body[];
  const code = result?.['errorCode'];
  if (code !== 0 && code !== topicExists)
    throw new Error(
      `creating topic ${topic}: ${String(result?.['errorMessage'] ?? `error ${String(code)}`)}`,
    );
}

/** The values of the records in a Fetch answer's record bytes, and the offset after the last. */
function valuesOf(records: Uint8Array | null, next: bigint): { values: Uint8Array[]; next: bigint } {
  const values: Uint8Array[] = [];
  let at = 0;
  let after = next;
  while (records !== null && at < records.length) {
    const size = batchSizeAt(records, at);
    if (size === null || at + size > records.length) break;
    const base = new DataView(records.buffer, records.byteOffset + at, 8).getBigInt64(0);
    for (const record of decodeRecords(records, at)) {
      const offset = base + BigInt(record.offsetDelta);
      if (offset >= next && record.value !== null) values.push(record.value);
      if (offset >= after) after = offset + 1n;
    }
    at += size;
  }
  return { values, next: after };
}

export function kafkaPeers(s: BenchSettings, topic: string): BenchPeers {
  const peers: Peer[] = [];
  let stopped = false;
  const { failure, fail, stop } = failureSignal();
  const readerId = `bench-sub-${process.pid}`;
  const writerId = `bench-pub-${process.pid}`;
  return {
    failure,
    async subscribe(onPayload) {
      const reader = await Peer.open(s, readerId);
      peers.push(reader);
      await createTopic(reader, topic, readerId);
      let offset = 0n;
      const poll = async (): Promise<void> => {
        while (!stopped) {
          const answer = await reader.request(ApiKey.Fetch, 11, fetchOf(topic, offset), readerId);
          const partition = onlyPartition(answer, 'partitions');
          if (partition?.['errorCode'] !== 0)
            throw new Error(`fetch: error ${String(partition?.['errorCode'])}`);
          const got = valuesOf(partition?.['records'] as Uint8Array | null, offset);
          offset = got.next;
          for (const value of got.values)
            onPayload(Buffer.from(value.buffer, value.byteOffset, value.length));
        }
      };
      poll().catch(fail);
    },
    async publisher() {
      const writer = await Peer.open(s, writerId);
      peers.push(writer);
      const acks = s.qos === 1 ? -1 : 0;
      const batch: Uint8Array[] = [];
      const flush = () => {
        const records = batch.splice(0, batchRecordsMax).map((value) => ({ value }));
        if (batch.length > 0) setImmediate(flush);
        const body = produceOf(
          topic,
          acks,
          encodeRecordBatch({ baseTimestamp: BigInt(Date.now()), records }),
        );
        if (acks === 0) writer.send(ApiKey.Produce, 7, body, writerId);
        else writer.request(ApiKey.Produce, 7, body, writerId).then(checkProduced).catch(fail);
      };
      return (payload) => {
        if (batch.length === 0) setImmediate(flush);
        batch.push(payload);
      };
    },
    close() {
      stopped = true;
      stop();
      for (const peer of peers) peer.close();
    },
  };
}

/** The one partition of the one topic an answer of this run is about. */
function onlyPartition(answer: Body, key: string): Body | undefined {
  const topic = (answer['responses'] as Body[])[0];
  return (topic?.[key] as Body[] | undefined)?.[0];
}

function checkProduced(answer: Body): void {
  const partition = onlyPartition(answer, 'partitionResponses');
  if (partition?.['errorCode'] !== 0) throw new Error(`produce: error ${String(partition?.['errorCode'])}`);
}

function produceOf(topic: string, acks: number, records: Uint8Array): object {
  return {
    transactionalId: null,
    acks,
    timeoutMs: connectTimeoutMs,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  };
}

function fetchOf(topic: string, offset: bigint): object {
  return {
    replicaId: -1,
    maxWaitMs: fetchWaitMs,
    minBytes: 1,
    maxBytes: fetchBytesMax,
    isolationLevel: 0,
    sessionEpoch: -1,
    topics: [
      { topic, partitions: [{ partition: 0, fetchOffset: offset, partitionMaxBytes: fetchBytesMax }] },
    ],
  };
}
