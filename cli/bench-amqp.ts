/**
 * `switchyard bench amqp`'s two connections, spoken with the broker's own AMQP 0-9-1 codec (shipped in
 * dist/src), so the bench needs no client library. Just enough of the protocol for a bench: PLAIN
 * login, one channel, a queue of its own, publish (with confirms at --qos 1) and consume (with acks at
 * --qos 1, no-ack at 0). Any connection.close or channel.close from the broker ends the run with its
 * reply text.
 */
import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import {
  encodeContent,
  encodeMethodFrame,
  type Method,
  parseFrames,
  protocolHeader,
} from '../src/protocols/amqp/codec/index.js';
import type { BenchPeers, BenchSettings } from './bench-peers.js';

/** Frames we send and accept; deliveries of a bench are small. */
const frameBytesMax = 131_072;
const connectTimeoutMs = 10_000;

type Fields<N extends Method['name']> = Extract<Method, { name: N }>['fields'];

class AmqpPeer {
  readonly #socket: Socket;
  #input: Buffer = Buffer.alloc(0);
  readonly #waiters = new Map<string, (fields: unknown) => void>();
  #failed: (err: Error) => void = () => {};
  /** The delivery whose header and body are being read. */
  #content: { tag: number; remaining: number; chunks: Buffer[] } | undefined;
  onDelivery: (tag: number, body: Buffer) => void = () => {};

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
  }

  static async open(s: BenchSettings): Promise<AmqpPeer> {
    const socket = connect({ host: s.host, port: s.port });
    socket.setNoDelay(true);
    const peer = new AmqpPeer(socket);
    const failed = new Promise<never>((_, reject) => {
      peer.#failed = reject;
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('the broker closed the connection')));
      setTimeout(() => reject(new Error('no connection.open-ok in time')), connectTimeoutMs).unref();
    });
    failed.catch(() => socket.destroy());
    try {
      await Promise.race([peer.#handshake(s), failed]);
    } catch (err) {
      throw new Error(`amqp://${s.host}:${s.port}: ${(err as Error).message}`);
    }
    return peer;
  }

  async #handshake(s: BenchSettings): Promise<void> {
    const started = this.expect('connection.start');
    this.#socket.write(protocolHeader);
    await started;
    const tuned = this.expect('connection.tune');
    const response = Buffer.from(`\0${s.user ?? 'guest'}\0${s.password ?? 'guest'}`);
    this.send({
      name: 'connection.start-ok',
      fields: { clientProperties: {}, mechanism: 'PLAIN', response, locale: 'en_US' },
    });
    const tune = (await tuned) as Fields<'connection.tune'>;
    const frameMax = tune.frameMax === 0 ? frameBytesMax : Math.min(tune.frameMax, frameBytesMax);
    this.send({ name: 'connection.tune-ok', fields: { channelMax: 1, frameMax, heartbeat: 0 } });
    await this.call(
      { name: 'connection.open', fields: { virtualHost: '/', capabilities: '', insist: false } },
      'connection.open-ok',
    );
    await this.call({ name: 'channel.open', fields: { outOfBand: '' } }, 'channel.open-ok');
  }

  expect(name: string): Promise<unknown> {
    return new Promise((resolve) => this.#waiters.set(name, resolve));
  }

  send(method: Method): void {
    this.#socket.write(
      encodeMethodFrame(method.name.startsWith('connection.') ? 0 : 1, method, frameBytesMax),
    );
  }

  call(method: Method, reply: string): Promise<unknown> {
    const answered = this.expect(reply);
    this.send(method);
    return answered;
  }

  publish(routingKey: string, body: Buffer): void {
    const method: Method = {
      name: 'basic.publish',
      fields: { ticket: 0, exchange: '', routingKey, mandatory: false, immediate: false },
    };
    this.#socket.write(encodeContent(1, method, {}, body, frameBytesMax));
  }

  #read(chunk: Buffer): void {
    this.#input = this.#input.byteLength === 0 ? chunk : Buffer.concat([this.#input, chunk]);
    for (;;) {
      const { frames, bytes } = parseFrames(this.#input, frameBytesMax);
      for (const frame of frames) this.#frame(frame);
      this.#input = this.#input.subarray(bytes);
      if (frames.length === 0) return;
    }
  }

  #frame(frame: ReturnType<typeof parseFrames>['frames'][number]): void {
    if (frame.kind === 'method') {
      const { name, fields } = frame.method;
      if (name === 'basic.deliver') this.#content = { tag: fields.deliveryTag, remaining: -1, chunks: [] };
      else if (name === 'connection.close' || name === 'channel.close')
        this.#failed(new Error(fields.replyText));
      const waiter = this.#waiters.get(name);
      this.#waiters.delete(name);
      waiter?.(fields);
    } else if (frame.kind === 'header' && this.#content !== undefined) {
      this.#content.remaining = frame.bodySize;
      if (frame.bodySize === 0) this.#delivered();
    } else if (frame.kind === 'body' && this.#content !== undefined) {
      this.#content.chunks.push(Buffer.from(frame.payload));
      this.#content.remaining -= frame.payload.byteLength;
      if (this.#content.remaining <= 0) this.#delivered();
    }
  }

  #delivered(): void {
    const { tag, chunks } = this.#content!;
    this.#content = undefined;
    this.onDelivery(tag, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  }

  close(): void {
    this.send({
      name: 'connection.close',
      fields: { replyCode: 200, replyText: 'bench done', classId: 0, methodId: 0 },
    });
    this.#socket.end();
  }
}

export function amqpPeers(s: BenchSettings, queue: string): BenchPeers {
  const peers: AmqpPeer[] = [];
  const acks = s.qos === 1;
  return {
    async subscribe(onPayload) {
      const sub = await AmqpPeer.open(s);
      peers.push(sub);
      const declare = {
        ticket: 0,
        queue,
        passive: false,
        durable: false,
        exclusive: false,
        autoDelete: true,
        noWait: false,
        arguments: {},
      };
      await sub.call({ name: 'queue.declare', fields: declare }, 'queue.declare-ok');
      await sub.call(
        { name: 'basic.qos', fields: { prefetchSize: 0, prefetchCount: s.window, global: false } },
        'basic.qos-ok',
      );
      sub.onDelivery = (tag, body) => {
        if (acks) sub.send({ name: 'basic.ack', fields: { deliveryTag: tag, multiple: false } });
        onPayload(body);
      };
      const consume = {
        ticket: 0,
        queue,
        consumerTag: 'bench',
        noLocal: false,
        noAck: !acks,
        exclusive: false,
        noWait: false,
        arguments: {},
      };
      await sub.call({ name: 'basic.consume', fields: consume }, 'basic.consume-ok');
    },
    async publisher() {
      const pub = await AmqpPeer.open(s);
      peers.push(pub);
      if (acks) await pub.call({ name: 'confirm.select', fields: { noWait: false } }, 'confirm.select-ok');
      return (payload) => pub.publish(queue, payload);
    },
    close() {
      for (const peer of peers) peer.close();
    },
  };
}
