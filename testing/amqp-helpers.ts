/**
 * Helpers for the AMQP conformance tests: an in-process broker with only the AMQP listener on a free
 * port, amqplib connections to it, and a raw-socket client for frames amqplib will not send.
 */
import { connect as connectSocket, type Socket } from 'node:net';
import { after, before } from 'node:test';
import amqp from 'amqplib';
import {
  encodeContent,
  encodeMethodFrame,
  type Frame,
  type Method,
  parseFrames,
  protocolHeader,
} from '../src/protocols/amqp/codec/index.js';
import type { Broker } from '../src/server/broker.js';
import { type TestBroker as StartedBroker, startTestBroker, type TestListener } from './broker.js';
import { FaultyIo } from './faulty-io.js';
import type { MemoryTransport } from './transport-pair.js';

export { allPortsOff } from './server-helpers.js';

import { sleep, until } from './wait.js';

export { sleep, until };

export interface TestBroker {
  readonly broker: Broker;
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

export async function startAmqpBroker(
  options: { storage?: 'memory' | 'file'; dataDir?: string } = {},
): Promise<TestBroker> {
  const started = await startTestBroker({ listeners: ['amqp'], fsync: 'always', ...options });
  return { broker: started.broker, port: started.port('amqp'), url: started.url('amqp'), stop: started.stop };
}

/** The broker and the amqplib connection a test file shares, valid from its `before` until its `after`. */
export interface SharedAmqp {
  readonly sy: TestBroker;
  readonly conn: amqp.ChannelModel;
}

/**
 * An AMQP broker (and any `more` listeners) on file storage (`fsync always`) in `dataDir`, its disk
 * `io` for the test to fail or slow.
 */
export async function startAmqpOnFaultyDisk(
  dataDir: string,
  more: readonly TestListener[] = [],
): Promise<{ io: FaultyIo; tb: StartedBroker }> {
  const io = new FaultyIo();
  const tb = await startTestBroker({
    listeners: ['amqp', ...more],
    storage: 'file',
    fsync: 'always',
    dataDir,
    storageIo: io,
  });
  return { io, tb };
}

/**
 * Registers, in the calling test file, a broker started before its tests with one amqplib connection
 * to it, both closed after them.
 */
export function sharedAmqpBroker(): SharedAmqp {
  let sy: TestBroker | undefined;
  let conn: amqp.ChannelModel | undefined;
  before(async () => {
    sy = await startAmqpBroker();
    conn = await open(sy.url);
  });
  after(async () => {
    await conn?.close();
    await sy?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the shared AMQP broker is used before its before() hook');
    return value;
  };
  return {
    get sy() {
      return started(sy);
    },
    get conn() {
      return started(conn);
    },
  };
}

/** An amqplib connection whose errors are recorded, not thrown (channel errors are expected in tests). */
export async function open(url: string, options: Record<string, unknown> = {}): Promise<amqp.ChannelModel> {
  const connection = await amqp.connect(url, options);
  connection.on('error', () => {});
  return connection;
}

export async function channelOf(connection: amqp.ChannelModel): Promise<amqp.Channel> {
  const channel = await connection.createChannel();
  channel.on('error', () => {});
  return channel;
}

export async function confirmChannelOf(connection: amqp.ChannelModel): Promise<amqp.ConfirmChannel> {
  const channel = await connection.createConfirmChannel();
  channel.on('error', () => {});
  return channel;
}

/** A frame-level client: sends raw bytes, collects decoded frames, for malformed-input tests. */
export class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  #input = Buffer.alloc(0);
  raw = Buffer.alloc(0);
  /** Off for a test that receives many megabytes: `raw` would be copied whole at every chunk. */
  keepRaw = true;
  readonly #write: (bytes: Uint8Array) => void;
  readonly #destroy: () => void;
  readonly #pipe: { write(bytes: Uint8Array): void; destroy(): void; pause?(): void; resume?(): void };

  private constructor(pipe: { write(bytes: Uint8Array): void; destroy(): void }) {
    this.#pipe = pipe;
    this.#write = (bytes) => pipe.write(bytes);
    this.#destroy = () => pipe.destroy();
  }

  /** Stops reading the socket, as a client that does not read its answers: they back up in the broker. */
  pause(): void {
    this.#pipe.pause?.();
  }

  resume(): void {
    this.#pipe.resume?.();
  }

  #received(chunk: Buffer): void {
    if (this.keepRaw) this.raw = Buffer.concat([this.raw, chunk]);
    this.#input = Buffer.concat([this.#input, chunk]);
    try {
      const { frames, bytes } = parseFrames(this.#input, 1 << 20);
      this.frames.push(...frames);
      this.#input = this.#input.subarray(bytes);
    } catch {
      // Not frames (a protocol header answer): left in `raw`.
    }
  }

  /** Over one end of an in-memory pair (testing/transport-pair.ts), the other given to `Broker.accept`. */
  static over(end: MemoryTransport): RawClient {
    const client = new RawClient(end);
    end.attach({ data: (chunk) => client.#received(chunk), closed: () => (client.closed = true) });
    return client;
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connectSocket(port, '127.0.0.1', () => {
        const client = new RawClient(socket);
        socket.on('data', (chunk: Buffer) => client.#received(chunk));
        socket.on('close', () => (client.closed = true));
        socket.on('error', () => {});
        resolve(client);
      });
      socket.once('error', reject);
    });
  }

  write(bytes: Uint8Array): void {
    this.#write(bytes);
  }

  send(channel: number, method: Method): void {
    this.write(encodeMethodFrame(channel, method, 131_072));
  }

  /** basic.publish with its header and body, persistent unless told otherwise. */
  publish(channel: number, exchange: string, routingKey: string, body: string, persistent = true): void {
    const method: Method = {
      name: 'basic.publish',
      fields: { ticket: 0, exchange, routingKey, mandatory: false, immediate: false },
    };
    this.write(
      encodeContent(channel, method, { deliveryMode: persistent ? 2 : 1 }, Buffer.from(body), 131_072),
    );
  }

  /** Every method frame named `name` received so far, taken out of `frames`. */
  take(name: string): Method[] {
    const taken: Method[] = [];
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const frame = this.frames[i]!;
      if (frame.kind === 'method' && frame.method.name === name) {
        taken.unshift(frame.method);
        this.frames.splice(i, 1);
      }
    }
    return taken;
  }

  async method(name: string, timeoutMs = 3000): Promise<Method> {
    let found: Method | undefined;
    await until(
      () => {
        const i = this.frames.findIndex((f) => f.kind === 'method' && f.method.name === name);
        if (i === -1) return false;
        found = (this.frames.splice(i, 1)[0] as { method: Method }).method;
        return true;
      },
      timeoutMs,
      `method ${name}`,
    );
    return found!;
  }

  /** The reply code of the connection.close the server sends. */
  async closeCode(): Promise<number> {
    const method = await this.method('connection.close');
    return method.name === 'connection.close' ? method.fields.replyCode : -1;
  }

  /**
   * Header, start-ok (PLAIN guest), tune-ok (with `heartbeatS`), open: ready for channel frames.
   * `answer` is the method awaited after open (`connection.close` when the test expects a refusal);
   * it is returned.
   */
  async handshake(answer = 'connection.open-ok', heartbeatS = 0): Promise<Method> {
    this.write(protocolHeader);
    await this.method('connection.start');
    const response = Buffer.from('\0guest\0guest');
    this.send(0, {
      name: 'connection.start-ok',
      fields: { clientProperties: {}, mechanism: 'PLAIN', response, locale: 'en_US' },
    });
    await this.method('connection.tune');
    this.send(0, {
      name: 'connection.tune-ok',
      fields: { channelMax: 0, frameMax: 131_072, heartbeat: heartbeatS },
    });
    this.send(0, { name: 'connection.open', fields: { virtualHost: '/', capabilities: '', insist: false } });
    return this.method(answer);
  }

  /** channel.open of channel `n`, answered. */
  async openChannel(n: number): Promise<void> {
    this.send(n, { name: 'channel.open', fields: { outOfBand: '' } });
    await this.method('channel.open-ok');
  }

  close(): void {
    this.#destroy();
  }
}

/** Ready messages in a queue, read from the broker's core (exclusive queues included); -1 if none such. */
export const readyCount = (broker: Broker, queue: string): number =>
  broker
    .client()
    .listQueues()
    .find((x) => x.name === queue)?.messageCount ?? -1;

/** queue.declare of a durable, shared queue with `args` (x-queue-type and the like). */
export const declareDurable = (queue: string, args: Record<string, string>): Method => ({
  name: 'queue.declare',
  fields: {
    ticket: 0,
    queue,
    passive: false,
    durable: true,
    exclusive: false,
    autoDelete: false,
    noWait: false,
    arguments: args,
  },
});
