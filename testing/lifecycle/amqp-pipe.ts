/**
 * A pipelining AMQP 0-9-1 client for the lifecycle test: it writes methods without waiting for their
 * replies (amqplib waits for each), pairs the synchronous replies of a channel with its requests in
 * order, assembles deliveries, and reports publisher confirms. Nothing here retries or hides an error:
 * a channel.close from the broker is reported as it came.
 */
import { connect as connectSocket, type Socket } from 'node:net';
import {
  type BasicProperties,
  encodeContent,
  encodeMethodFrame,
  type Frame,
  type Method,
  parseFrames,
  protocolHeader,
} from '../../src/protocols/amqp/codec/index.js';

const frameBytesMax = 131_072;

export interface Delivery {
  readonly method: Method;
  readonly properties: BasicProperties;
  readonly body: Buffer;
}

interface Waiter {
  readonly replies: readonly string[];
  resolve(reply: Method | Delivery): void;
}

interface ChannelState {
  readonly waiters: Waiter[];
  /** A content-bearing method whose header and body are still arriving. */
  content?:
    | { method: Method; properties: BasicProperties; size: number; parts: Buffer[]; got: number }
    | undefined;
}

export interface PipeEvents {
  /** basic.deliver, basic.return. */
  onDelivery?(channel: number, delivery: Delivery): void;
  /** basic.ack / basic.nack from the broker (confirms), basic.cancel, channel.close, connection.close. */
  onMethod?(channel: number, method: Method): void;
}

export class AmqpPipe {
  readonly #socket: Socket;
  readonly #channels = new Map<number, ChannelState>();
  #input: Buffer = Buffer.alloc(0);
  #events: PipeEvents = {};
  closed = false;
  /** What went wrong with the connection itself (a parse error, a connection.close). */
  failure: string | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('close', () => {
      this.closed = true;
      for (const state of this.#channels.values()) state.waiters.length = 0;
    });
    socket.on('error', () => {});
  }

  static async open(port: number, events: PipeEvents = {}): Promise<AmqpPipe> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connectSocket(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    const pipe = new AmqpPipe(socket);
    await pipe.#handshake();
    pipe.#events = events;
    return pipe;
  }

  async #handshake(): Promise<void> {
    const start = this.#expect(0, ['connection.start']);
    this.#socket.write(protocolHeader);
    await start;
    const tune = this.#expect(0, ['connection.tune']);
    this.send(0, {
      name: 'connection.start-ok',
      fields: {
        clientProperties: {},
        mechanism: 'PLAIN',
        response: Buffer.from('\0guest\0guest'),
        locale: 'en_US',
      },
    });
    await tune;
    this.send(0, {
      name: 'connection.tune-ok',
      fields: { channelMax: 0, frameMax: frameBytesMax, heartbeat: 0 },
    });
    await this.call(
      0,
      { name: 'connection.open', fields: { virtualHost: '/', capabilities: '', insist: false } },
      ['connection.open-ok'],
    );
  }

  #state(channel: number): ChannelState {
    let state = this.#channels.get(channel);
    if (state === undefined) {
      state = { waiters: [] };
      this.#channels.set(channel, state);
    }
    return state;
  }

  #expect(channel: number, replies: readonly string[]): Promise<Method | Delivery> {
    return new Promise((resolve) => this.#state(channel).waiters.push({ replies, resolve }));
  }

  send(channel: number, method: Method): void {
    if (!this.closed) this.#socket.write(encodeMethodFrame(channel, method, frameBytesMax));
  }

  /** Sends a synchronous method; resolves with its reply (get-ok resolves with the whole delivery). */
  call(channel: number, method: Method, replies: readonly string[]): Promise<Method | Delivery> {
    const reply = this.#expect(channel, replies);
    this.send(channel, method);
    return reply;
  }

  publish(
    channel: number,
    exchange: string,
    routingKey: string,
    body: string,
    properties: BasicProperties,
  ): void {
    const method: Method = {
      name: 'basic.publish',
      fields: { ticket: 0, exchange, routingKey, mandatory: false, immediate: false },
    };
    if (!this.closed)
      this.#socket.write(encodeContent(channel, method, properties, Buffer.from(body), frameBytesMax));
  }

  close(): void {
    this.#socket.destroy();
  }

  #receive(chunk: Buffer): void {
    this.#input = this.#input.byteLength === 0 ? chunk : Buffer.concat([this.#input, chunk]);
    try {
      for (;;) {
        const { frames, bytes } = parseFrames(this.#input, frameBytesMax);
        this.#input = this.#input.subarray(bytes);
        for (const frame of frames) this.#frame(frame);
        if (frames.length === 0) break;
      }
    } catch (err) {
      this.failure = `unreadable frames from the broker: ${String(err)}`;
      this.close();
    }
  }

  #frame(frame: Frame): void {
    if (frame.kind === 'heartbeat') return;
    const state = this.#state(frame.channel);
    if (frame.kind === 'method') {
      this.#method(frame.channel, state, frame.method);
      return;
    }
    const content = state.content;
    if (content === undefined) return;
    if (frame.kind === 'header') {
      content.properties = frame.properties;
      content.size = frame.bodySize;
    } else {
      content.parts.push(Buffer.from(frame.payload));
      content.got += frame.payload.byteLength;
    }
    if (content.size >= 0 && content.got >= content.size) {
      state.content = undefined;
      this.#complete(frame.channel, state, {
        method: content.method,
        properties: content.properties,
        body: Buffer.concat(content.parts),
      });
    }
  }

  #method(channel: number, state: ChannelState, method: Method): void {
    if (method.name === 'basic.deliver' || method.name === 'basic.get-ok' || method.name === 'basic.return') {
      state.content = { method, properties: {}, size: -1, parts: [], got: 0 };
      return;
    }
    if (method.name === 'connection.close')
      this.failure = `connection.close ${JSON.stringify(method.fields)}`;
    const waiter = state.waiters[0];
    if (waiter?.replies.includes(method.name)) {
      state.waiters.shift();
      waiter!.resolve(method);
      return;
    }
    this.#events.onMethod?.(channel, method);
  }

  #complete(channel: number, state: ChannelState, delivery: Delivery): void {
    if (delivery.method.name === 'basic.get-ok') {
      const waiter = state.waiters.shift();
      waiter?.resolve(delivery);
      return;
    }
    this.#events.onDelivery?.(channel, delivery);
  }
}

export function isDelivery(reply: Method | Delivery): reply is Delivery {
  return 'body' in reply;
}
