/**
 * A raw Kafka protocol client for conformance tests: sends frames built with the codec and reads
 * size-prefixed responses, so tests can check what client libraries hide (header versions, ordering,
 * no response to acks=0, closed connections).
 */
import { connect, type Socket } from 'node:net';
import {
  decodeMessage,
  decodeResponseHeader,
  FrameSplitter,
  frameRequest,
  KafkaReader,
  kafkaApiByKey,
  responseHeaderVersion,
  writeMessage,
} from '../src/protocols/kafka/codec/index.js';

export class WireClient {
  readonly #socket: Socket;
  readonly #splitter = new FrameSplitter(64 * 1024 * 1024);
  readonly #frames: Uint8Array[] = [];
  readonly #waiters: Array<() => void> = [];
  #correlation = 1;
  closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.#splitter.push(chunk)) this.#frames.push(f);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new WireClient(socket)));
      socket.once('error', reject);
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Responses received and not yet read: an answer's arrival checked without waiting for it. */
  get framesWaiting(): number {
    return this.#frames.length;
  }

  /** Sends a request; returns its correlation id. */
  send(apiKey: number, version: number, body: object, clientId: string | null = 'wire'): number {
    const api = kafkaApiByKey.get(apiKey);
    if (api === undefined) throw new Error(`unknown api ${apiKey}`);
    const correlationId = this.#correlation++;
    const frame = frameRequest(
      { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId },
      (w) => writeMessage(w, api.request, body, version),
    );
    this.#socket.write(frame);
    return correlationId;
  }

  sendRaw(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** The next response frame (without its size), or null when the connection closed first. */
  async nextFrame(timeoutMs = 5000): Promise<Uint8Array | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#frames.length === 0) {
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#frames.shift() ?? null;
  }

  /** Reads the next response and decodes it as `apiKey` at `version`. */
  async receive<T = Record<string, unknown>>(
    apiKey: number,
    version: number,
    timeoutMs = 5000,
  ): Promise<{ correlationId: number; body: T }> {
    const frame = await this.nextFrame(timeoutMs);
    if (frame === null) throw new Error('connection closed');
    const r = new KafkaReader(frame);
    const header = decodeResponseHeader(r, responseHeaderVersion(apiKey, version));
    const body = decodeMessage(kafkaApiByKey.get(apiKey)!.response, r, version) as T;
    return { correlationId: header.correlationId, body };
  }

  async request<T = Record<string, unknown>>(apiKey: number, version: number, body: object): Promise<T> {
    const id = this.send(apiKey, version, body);
    const got = await this.receive<T>(apiKey, version);
    if (got.correlationId !== id) throw new Error(`correlation ${got.correlationId}, expected ${id}`);
    return got.body;
  }

  /** Stops reading the socket, as a slow reader does: the broker's answers back up in the kernel. */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  close(): void {
    this.#socket.destroy();
  }
}

/**
 * AlterConfigs v0 making `topic` compacted with a dirty ratio of 0.01, so the next compaction check
 * (within a second) compacts all of its sealed log in one run.
 */
export function compactNowRequest(topic: string): object {
  return {
    resources: [
      {
        resourceType: 2,
        resourceName: topic,
        configs: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'min.cleanable.dirty.ratio', value: '0.01' },
        ],
      },
    ],
    validateOnly: false,
  };
}

/** Fetch v11 of partition 0 of `topic` from `fetchOffset`, up to 1 MiB, answered at once, without a session. */
export function fetchPartitionZeroRequest(topic: string, fetchOffset: bigint, isolationLevel: 0 | 1): object {
  return {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1 << 20,
    isolationLevel,
    sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: 0, fetchOffset, partitionMaxBytes: 1 << 20 }] }],
  };
}
