/**
 * The client side of `npm run bench -- kubemq`, run as a forked process (so the clients do not share
 * the bench process) holding the publisher and the subscribers of one case. Prints one JSON result
 * line. Every payload is 256 B and starts with its index (u32) and the wall-clock ms it was written
 * (f64), so a receiver knows its latency. At most `inFlightMax` messages are between sending and
 * being received by every subscriber: events are at most once, and a publisher running ahead of
 * its subscribers would only measure drops.
 *
 * - `events <address> <subscribers> <messages> <store 0|1>`: SendEventsStream in, SubscribeToEvents out
 *   (events, or the events store from new events only), against Switchyard or the no-op relay.
 * - `queues <address> <messages> <batch>`: QueuesUpstream in batches, QueuesDownstream gets of a batch,
 *   each acked whole (AckAll).
 * - `nats <port> <subscribers> <messages>`: NATS core PUB / SUB over a minimal client of its text protocol.
 */
import { createConnection, type Socket } from 'node:net';
import type { ClientDuplexStream, ClientReadableStream } from '@grpc/grpc-js';
import { rawClient } from './kubemq-harness.js';

export interface BenchResult {
  /** Messages whose every delivery arrived, and the deliveries that counts. */
  readonly messages: number;
  readonly deliveries: number;
  readonly wallMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU of this client process, % of one core. */
  readonly clientCpuPct: number;
}

const payloadBytes = 256;
const inFlightMax = 1000;
const lifetimeMs = 300_000;
const nowMs = (): number => performance.timeOrigin + performance.now();

function payload(index: number): Buffer {
  const body = Buffer.alloc(payloadBytes);
  body.writeUInt32LE(index, 0);
  body.writeDoubleLE(nowMs(), 4);
  return body;
}

/** Counts deliveries per message; a message completes when all `copies` arrived. */
class Tally {
  readonly #copies: number;
  readonly #seen: Uint16Array;
  readonly latencies: number[] = [];
  completed = 0;
  deliveries = 0;
  #wake: (() => void) | undefined;

  constructor(messages: number, copies: number) {
    this.#copies = copies;
    this.#seen = new Uint16Array(messages);
  }

  take(body: Uint8Array): void {
    const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const index = view.readUInt32LE(0);
    this.deliveries++;
    if (++this.#seen[index]! !== this.#copies) return;
    this.completed++;
    this.latencies.push(nowMs() - view.readDoubleLE(4));
    this.#wake?.();
  }

  /** Resolves when fewer than `inFlightMax` sent messages are incomplete. */
  room(sent: number): Promise<void> | undefined {
    if (sent - this.completed < inFlightMax) return undefined;
    return new Promise((resolve) => {
      this.#wake = () => {
        if (sent - this.completed >= inFlightMax) return;
        this.#wake = undefined;
        resolve();
      };
    });
  }

  done(messages: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (this.completed >= messages ? resolve() : setTimeout(check, 5));
      check();
    });
  }
}

function report(tally: Tally, startedMs: number, cpuStart: NodeJS.CpuUsage): void {
  const wallMs = nowMs() - startedMs;
  const sorted = tally.latencies.sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
  const cpu = process.cpuUsage(cpuStart);
  const result: BenchResult = {
    messages: tally.completed,
    deliveries: tally.deliveries,
    wallMs,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    clientCpuPct: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function events(address: string, subscribers: number, messages: number, store: boolean): Promise<void> {
  const client = rawClient(address);
  const channel = `bench.events.${process.pid}`;
  const tally = new Tally(messages, subscribers);
  const subscriptions: Array<ClientReadableStream<Record<string, unknown>>> = [];
  for (let i = 0; i < subscribers; i++) {
    const request = {
      SubscribeTypeData: store ? 2 : 1,
      ClientID: `bench-sub-${process.pid}-${i}`,
      Channel: channel,
      ...(store ? { EventsStoreTypeData: 1 } : {}),
    };
    const stream = (
      client['SubscribeToEvents'] as (r: object) => ClientReadableStream<Record<string, unknown>>
    )(request);
    stream.on('data', (event: Record<string, unknown>) => tally.take(event['Body'] as Uint8Array));
    stream.on('error', () => {});
    subscriptions.push(stream);
  }
  await sleep(1000);
  const cpuStart = process.cpuUsage();
  const started = nowMs();
  const publisher: ClientDuplexStream<object, Record<string, unknown>> = client.SendEventsStream();
  publisher.on('data', () => {});
  publisher.on('error', () => {});
  for (let i = 0; i < messages; i++) {
    await tally.room(i);
    const ok = publisher.write({
      EventID: '',
      ClientID: 'bench-pub',
      Channel: channel,
      Body: payload(i),
      Store: store,
    });
    if (!ok) await new Promise((resolve) => publisher.once('drain', resolve));
  }
  await tally.done(messages);
  report(tally, started, cpuStart);
  publisher.end();
  for (const s of subscriptions) s.cancel();
  client.close();
}

async function queues(address: string, messages: number, batch: number): Promise<void> {
  const client = rawClient(address);
  const channel = `bench.queue.${process.pid}`;
  const tally = new Tally(messages, 1);
  const cpuStart = process.cpuUsage();
  const started = nowMs();
  const up = client.QueuesUpstream();
  up.on('data', () => {});
  up.on('error', () => {});
  const down = client.QueuesDownstream();
  const consuming = consume(down, channel, tally, messages);
  for (let i = 0; i < messages; i += batch) {
    await tally.room(i);
    const count = Math.min(batch, messages - i);
    const list = Array.from({ length: count }, (_, k) => ({
      ClientID: 'bench-up',
      Channel: channel,
      Body: payload(i + k),
    }));
    if (!up.write({ RequestID: `r${i}`, Messages: list }))
      await new Promise((resolve) => up.once('drain', resolve));
  }
  await consuming;
  report(tally, started, cpuStart);
  up.end();
  down.end();
  client.close();
}

/** Gets up to 100 messages at a time and acks each get whole, until `messages` have come. */
async function consume(
  down: ClientDuplexStream<object, Record<string, unknown>>,
  channel: string,
  tally: Tally,
  messages: number,
): Promise<void> {
  const answers: Array<Record<string, unknown>> = [];
  let wake: (() => void) | undefined;
  down.on('data', (answer: Record<string, unknown>) => {
    answers.push(answer);
    wake?.();
  });
  down.on('error', () => {});
  for (let n = 0; tally.completed < messages; n++) {
    down.write({
      RequestID: `g${n}`,
      ClientID: 'bench-down',
      RequestTypeData: 1,
      Channel: channel,
      MaxItems: 100,
      WaitTimeout: 1000,
    });
    while (answers.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    const answer = answers.shift()!;
    const got = (answer['Messages'] ?? []) as Array<Record<string, unknown>>;
    if (got.length === 0) continue;
    down.write({
      RequestID: `a${n}`,
      ClientID: 'bench-down',
      RequestTypeData: 2,
      RefTransactionId: answer['TransactionId'],
    });
    for (const message of got) tally.take(message['Body'] as Uint8Array);
  }
}

/** A NATS connection: CONNECT, then PUB / SUB; MSG payloads go to `onMessage`. */
function natsConnection(port: number, onMessage: (payload: Buffer) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const eol = pending.indexOf('\r\n');
        if (eol < 0) return;
        const line = pending.subarray(0, eol).toString();
        if (line.startsWith('MSG ')) {
          const size = Number(line.slice(line.lastIndexOf(' ') + 1));
          if (pending.length < eol + 2 + size + 2) return;
          onMessage(pending.subarray(eol + 2, eol + 2 + size));
          pending = pending.subarray(eol + 2 + size + 2);
        } else {
          if (line === 'PING') socket.write('PONG\r\n');
          pending = pending.subarray(eol + 2);
        }
      }
    });
    socket.once('connect', () => {
      socket.write('CONNECT {"verbose":false,"pedantic":false}\r\n');
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

async function nats(port: number, subscribers: number, messages: number): Promise<void> {
  const subject = `bench.${process.pid}`;
  const tally = new Tally(messages, subscribers);
  const subs: Socket[] = [];
  for (let i = 0; i < subscribers; i++) {
    const socket = await natsConnection(port, (body) => tally.take(body));
    socket.write(`SUB ${subject} ${i + 1}\r\n`);
    subs.push(socket);
  }
  const pub = await natsConnection(port, () => {});
  await sleep(500);
  const cpuStart = process.cpuUsage();
  const started = nowMs();
  for (let i = 0; i < messages; i++) {
    await tally.room(i);
    const body = payload(i);
    if (
      !pub.write(Buffer.concat([Buffer.from(`PUB ${subject} ${body.length}\r\n`), body, Buffer.from('\r\n')]))
    ) {
      await new Promise((resolve) => pub.once('drain', resolve));
    }
  }
  await tally.done(messages);
  report(tally, started, cpuStart);
  for (const socket of [...subs, pub]) socket.destroy();
}

setTimeout(() => process.exit(3), lifetimeMs).unref();
const [role, target, ...rest] = process.argv.slice(2);
const numbers = rest.map(Number);
if (role === 'events') await events(target!, numbers[0]!, numbers[1]!, numbers[2] === 1);
else if (role === 'queues') await queues(target!, numbers[0]!, numbers[1]!);
else if (role === 'nats') await nats(Number(target), numbers[0]!, numbers[1]!);
else throw new Error(`unknown role ${role}`);
