/**
 * Helpers for the KubeMQ tests: an in-process broker with the gRPC and REST listeners on free ports,
 * kubemq-js 1.2.3 clients (with a client id, as its users must set one), a thin @grpc/grpc-js client
 * of kubemq.proto for the RPCs kubemq-js does not call, and REST / WebSocket helpers.
 */
import {
  type ChannelCredentials,
  type Client,
  type ClientDuplexStream,
  credentials,
  loadPackageDefinition,
  type Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { WebSocket } from 'ws';
import type { Broker, BrokerOptions } from '../src/server/broker.js';
import { startTestBroker } from './broker.js';
import { kubemqPackage } from './kubemq-proto-loader.js';

export interface KubemqTestBroker {
  readonly broker: Broker;
  /** `127.0.0.1:<grpc port>`, what kubemq-js calls `address`. */
  readonly address: string;
  /** `http://127.0.0.1:<rest port>` */
  readonly rest: string;
  /** `ws://127.0.0.1:<rest port>` */
  readonly ws: string;
  stop(): Promise<void>;
}

export async function startKubemqBroker(options: BrokerOptions = {}): Promise<KubemqTestBroker> {
  const { listeners, ...rest } = options;
  const started = await startTestBroker({
    listeners: ['grpc', 'rest'],
    ...rest,
    ...(listeners === undefined ? {} : { definitions: listeners }),
  });
  return {
    broker: started.broker,
    address: started.url('grpc'),
    rest: started.url('rest'),
    ws: `ws://127.0.0.1:${started.port('rest')}`,
    stop: started.stop,
  };
}

let clientIds = 0;

/** A fresh client id for one test client. */
export function clientId(prefix = 'test'): string {
  return `${prefix}-${process.pid}-${++clientIds}`;
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
export const textOf = (body: Uint8Array | string): string =>
  typeof body === 'string' ? Buffer.from(body, 'base64').toString('utf8') : new TextDecoder().decode(body);

import { sleep, until } from './wait.js';

export { sleep, until };

// ---- a thin gRPC client of kubemq.proto (the proto's own field names)

type Callback<T> = (err: ServiceError | null, value?: T) => void;

export interface RawKubemq extends Client {
  Ping(request: object, callback: Callback<Record<string, unknown>>): void;
  QueuesInfo(request: object, callback: Callback<Record<string, unknown>>): void;
  QueuesDownstream(metadata?: Metadata): ClientDuplexStream<object, Record<string, unknown>>;
  QueuesUpstream(metadata?: Metadata): ClientDuplexStream<object, Record<string, unknown>>;
  StreamQueueMessage(metadata?: Metadata): ClientDuplexStream<object, Record<string, unknown>>;
  SendEventsStream(metadata?: Metadata): ClientDuplexStream<object, Record<string, unknown>>;
  [rpc: string]: unknown;
}

/** A client of `address`; `creds` carry TLS (`credentials.createSsl(ca, key, cert)`), plaintext without. */
export function rawClient(
  address: string,
  creds: ChannelCredentials = credentials.createInsecure(),
): RawKubemq {
  const loaded = loadPackageDefinition(kubemqPackage()) as unknown as {
    kubemq: { kubemq: new (address: string, creds: ChannelCredentials) => RawKubemq };
  };
  return new loaded.kubemq.kubemq(address, creds);
}

/** Calls unary `rpc` of the raw client. */
export function call<T = Record<string, unknown>>(
  client: RawKubemq,
  rpc: string,
  request: object,
): Promise<T> {
  const method = client[rpc] as (request: object, callback: Callback<T>) => void;
  return new Promise((resolve, reject) =>
    method.call(client, request, (err, value) => (err === null ? resolve(value as T) : reject(err))),
  );
}

/** A bidi stream's responses, collected; `next(n)` waits until `n` have come. */
export function collectStream<T = Record<string, unknown>>(stream: ClientDuplexStream<object, T>) {
  const got: T[] = [];
  let ended = false;
  let error: Error | undefined;
  stream.on('data', (item: T) => got.push(item));
  stream.on('end', () => {
    ended = true;
  });
  stream.on('error', (err: Error) => {
    error = err;
    ended = true;
  });
  return {
    got,
    get ended() {
      return ended;
    },
    get error() {
      return error;
    },
    async next(count: number, timeoutMs = 5000): Promise<T[]> {
      await until(() => got.length >= count || error !== undefined, timeoutMs);
      return got.slice(0, count);
    },
  };
}

// ---- REST and WebSocket

export interface Envelope<T = Record<string, unknown>> {
  readonly status: number;
  readonly is_error: boolean;
  readonly message: string;
  readonly data: T;
}

export async function rest<T = Record<string, unknown>>(
  base: string,
  path: string,
  body?: unknown,
  method = body === undefined ? 'GET' : 'POST',
  headers: Record<string, string> = {},
): Promise<Envelope<T>> {
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(`${base}${path}`, init);
  const parsed = (await response.json()) as Omit<Envelope<T>, 'status'>;
  return { status: response.status, ...parsed };
}

/** A WebSocket and the JSON frames it received. */
export async function openSocket(
  url: string,
): Promise<{ ws: WebSocket; frames: Array<Record<string, unknown>> }> {
  const ws = new WebSocket(url);
  const frames: Array<Record<string, unknown>> = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Record<string, unknown>));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return { ws, frames };
}

/** The status and body of a refused WebSocket upgrade. */
export function refusedUpgrade(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

/**
 * kubemq-js 1.x polls a subscription until `unsubscribe()` (and learns of nothing else), so a test
 * file keeps every subscription here and ends them all: `track(await client.subscribe(…))`.
 */
export class Subscriptions {
  readonly #all: Array<{ unsubscribe(): void }> = [];

  track<T extends { unsubscribe(): void }>(subscription: T): T {
    this.#all.push(subscription);
    return subscription;
  }

  /** Unsubscribes all; kubemq-js cancels each stream within about a second. */
  endAll(): void {
    for (const subscription of this.#all.splice(0)) subscription.unsubscribe();
  }
}
