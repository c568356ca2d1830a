/**
 * The gRPC face: service `kubemq.kubemq` (all 15 RPCs of kubemq.proto) on @grpc/grpc-js, each RPC a
 * thin call into the shared handlers. Every call or stream is a caller of its own (server.ts); its
 * `authorization` metadata goes to the one login. Failures become gRPC statuses (INTERNAL with
 * KubeMQ's text, as KubeMQ answers) and never reach the process: a handler that throws, sync or
 * async, answers its own call only.
 */
import {
  status as grpcStatus,
  type handleBidiStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  Server,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { IngressBudget } from '../ingress.js';
import { peerCertificateOf } from '../tls.js';
import { endsOf, loginInterceptor, loginOf, peerAddress } from './admission.js';
import { Downstream, Upstream } from './downstream.js';
import { asFailure, fail, KubemqFailure, Texts, tokenExpired } from './errors.js';
import { sendEvent, subscribeEvents } from './events.js';
import { sendStoreEvent, subscribeEventsStore } from './events-store.js';
import { messageLimitOf } from './grpc-limits.js';
import { ping, queuesInfo } from './info.js';
import { kubemqService, responseEncoder } from './proto.js';
import { QueueTransaction } from './queue-transaction.js';
import { ackAllQueueMessages, receiveQueueMessages, sendQueueBatch, sendQueueMessage } from './queues.js';
import { sendRequest, sendResponse, subscribeRequests } from './rpc.js';
import type { Caller, KubemqServer } from './server.js';
import { Encoded, type Sink, SinkEvents } from './sink.js';
import {
  type Event,
  type EventReceive,
  type QueuesUpstreamResponse,
  type Result,
  type Subscribe,
  SubscribeType,
  type QueuesUpstreamRequest as UpstreamRequest,
} from './types.js';

type AnyCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

/**
 * The call's caller, as its login (made before the call started, ./admission.ts) says; a server
 * without that interceptor (none here, but a test may build one) logs in here.
 */
async function callerOf(server: KubemqServer, call: AnyCall): Promise<Caller> {
  const peer = peerAddress(call.getPeer());
  const admitted = loginOf(call.metadata);
  if (admitted !== undefined) return server.caller(admitted, peer);
  const token = call.metadata.get('authorization')[0];
  // grpc-js gives the client certificate only when it verified against the CA.
  const cert = call.getAuthContext().sslPeerCertificate;
  const login = await server.login(
    {
      token: typeof token === 'string' ? token : token?.toString(),
      certificate: cert === undefined ? undefined : peerCertificateOf(cert),
    },
    peer,
  );
  return server.caller(login, peer);
}

function status(err: unknown): { code: number; details: string } {
  const failure = asFailure(err);
  return { code: failure.code, details: failure.message };
}

function unary<Req, Res>(
  server: KubemqServer,
  handler: (caller: Caller, request: Req) => Res | Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let caller: Caller | undefined;
    callerOf(server, call)
      .then((opened) => {
        caller = opened;
        call.on('cancelled', () => caller?.close());
        return handler(caller, call.request);
      })
      .then(
        (response) => {
          caller?.close();
          callback(null, response);
        },
        (err: unknown) => {
          caller?.close();
          callback(status(err));
        },
      );
  };
}

/**
 * Bytes written to a stream and not yet handed to HTTP/2 before its sink counts as congested, and the
 * level they must fall back to before it drains. Node's own mark for object streams (16 items, `drain`
 * only once empty) would send a busy subscriber through its core queue far too often and leave the
 * connection idle at every drain. An item not yet encoded counts as `itemBytesGuess`.
 */
const streamBytesMax = 1024 * 1024;
const streamBytesLow = 256 * 1024;
const itemBytesGuess = 1024;

/** A server or bidi stream as a sink. */
function sinkOf<T>(
  call: ServerWritableStream<unknown, T> | ServerDuplexStream<unknown, T>,
  rpc: string,
): Sink<T> {
  const events = new SinkEvents();
  const encode = responseEncoder<T>(rpc);
  let unwritten = 0;
  let held = false;
  const written = (bytes: number) => () => {
    unwritten -= bytes;
    if (!held || unwritten > streamBytesLow) return;
    held = false;
    events.drain();
  };
  for (const name of ['cancelled', 'close', 'finish', 'error']) call.on(name, () => events.markClosed());
  return {
    encode,
    write: (item) => {
      if (events.closed) return;
      const bytes = item instanceof Encoded ? item.wire.length : itemBytesGuess;
      unwritten += bytes;
      if (unwritten >= streamBytesMax) held = true;
      call.write(item as T, written(bytes));
    },
    congested: () => unwritten >= streamBytesMax,
    onDrain: (listener) => events.onDrain(listener),
    drained: () => events.whenDrained(),
    onClose: (listener) => events.onClose(listener),
    end: (error) => {
      if (events.closed) return;
      events.markClosed();
      if (error === undefined) call.end();
      else call.emit('error', status(error));
    },
    get closed() {
      return events.closed;
    },
  };
}

/**
 * A stream is listed in `/api/connections` while it lasts (./presence.ts); an operator's close ends it
 * with UNAVAILABLE, which KubeMQ's clients take as a reason to reconnect.
 */
function listed<T>(caller: Caller, call: AnyCall, sink: Sink<T>): void {
  const [host, port] = splitPeer(call.getPeer());
  const ends = endsOf(call.metadata) ?? {
    peerHost: host,
    peerPort: port,
    host: '',
    port: undefined,
    tls: false,
  };
  caller.register(ends, (reason) =>
    sink.end(new KubemqFailure(`connection closed by an operator: ${reason}`, grpcStatus.UNAVAILABLE)),
  );
}

/** grpc-js's `<address>:<port>` as the two. */
function splitPeer(peer: string): [string, number | undefined] {
  const port = Number(peer.slice(peer.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 ? [peerAddress(peer), port] : [peer, undefined];
}

/** A subscription: the handler sets up the feed, a failure (sync or async) ends the stream with it. */
function subscription<Res>(
  server: KubemqServer,
  rpc: string,
  handler: (caller: Caller, request: Subscribe, sink: Sink<Res>) => void | Promise<void>,
): handleServerStreamingCall<Subscribe, Res> {
  return (call) => {
    const sink = sinkOf(call, rpc);
    callerOf(server, call)
      .then((caller) => {
        sink.onClose(() => caller.close());
        caller.onExpire(() => sink.end(tokenExpired()));
        listed(caller, call, sink);
        return handler(caller, call.request, sink);
      })
      .catch((err: unknown) => sink.end(asFailure(err)));
  };
}

/** What a bidi stream's requests go to; `idle` resolves once everything asked so far is answered. */
export interface Session<Req> {
  request(request: Req): void;
  idle(): Promise<void>;
}

/**
 * A bidi stream: requests go to the session `open` builds; when the client half-closes, the stream
 * ends once the session has answered everything. A failure ends the stream with it.
 */
function duplex<Req, Res>(
  server: KubemqServer,
  rpc: string,
  open: (caller: Caller, sink: Sink<Res>, call: ServerDuplexStream<Req, Res>) => Session<Req>,
): handleBidiStreamingCall<Req, Res> {
  return (call) => {
    const sink = sinkOf(call, rpc);
    // Requests wait in the stream (no 'data' listener yet) until the caller has logged in.
    callerOf(server, call).then(
      (caller) => serveDuplex(caller, sink, call, open),
      (err: unknown) => sink.end(asFailure(err)),
    );
  };
}

function serveDuplex<Req, Res>(
  caller: Caller,
  sink: Sink<Res>,
  call: ServerDuplexStream<Req, Res>,
  open: (caller: Caller, sink: Sink<Res>, call: ServerDuplexStream<Req, Res>) => Session<Req>,
): void {
  try {
    sink.onClose(() => caller.close());
    caller.onExpire(() => sink.end(tokenExpired()));
    listed(caller, call, sink);
    const session = open(caller, sink, call);
    call.on('data', (request: Req) => {
      try {
        session.request(request);
      } catch (err) {
        sink.end(asFailure(err));
      }
      // A client that sends and never reads must not grow its unread answers without bound: the
      // stream is not read while they back up (at most one request is read past that at each drain).
      if (sink.congested()) call.pause();
    });
    sink.onDrain(() => call.resume());
    call.on('end', () => {
      session.idle().then(
        () => sink.end(),
        () => sink.end(),
      );
    });
  } catch (err) {
    sink.end(asFailure(err));
  }
}

/** SendEventsStream: events answered only on failure, events-store events always (KubeMQ's rule). */
function eventsStream(
  caller: Caller,
  sink: Sink<Result>,
  call: ServerDuplexStream<Event, Result>,
): Session<Event> {
  const pending = new Pending(caller.server.limits.pendingSendsMax, call);
  return {
    request: (event) => {
      if (!event.Store) {
        try {
          sendEvent(caller, event);
        } catch (err) {
          sink.write({ EventID: event.EventID, Sent: false, Error: asFailure(err).message });
        }
        return;
      }
      pending.track(
        sendStoreEvent(caller, event)
          .catch(
            (err: unknown): Result => ({
              EventID: event.EventID,
              Sent: false,
              Error: asFailure(err).message,
            }),
          )
          .then((result) => sink.write(result)),
        1,
      );
    },
    idle: () => pending.idle(),
  };
}

/** Work under way on one stream, counted; reading the stream pauses while there is too much of it. */
class Pending {
  readonly #max: number;
  readonly #call: { pause(): void; resume(): void };
  #count = 0;
  #all: Promise<void> = Promise.resolve();

  constructor(max: number, call: { pause(): void; resume(): void }) {
    this.#max = max;
    this.#call = call;
  }

  track(work: Promise<unknown>, weight: number): void {
    this.#count += weight;
    if (this.#count >= this.#max) this.#call.pause();
    const done = work.then(
      () => this.#settled(weight),
      () => this.#settled(weight),
    );
    this.#all = Promise.all([this.#all, done]).then(() => undefined);
  }

  idle(): Promise<void> {
    return this.#all;
  }

  #settled(weight: number): void {
    const wasPaused = this.#count >= this.#max;
    this.#count -= weight;
    if (wasPaused && this.#count < this.#max) this.#call.resume();
  }
}

function subscribeToEvents(caller: Caller, request: Subscribe, sink: Sink<EventReceive>) {
  if (request.SubscribeTypeData === SubscribeType.events) return subscribeEvents(caller, request, sink);
  if (request.SubscribeTypeData === SubscribeType.eventsStore)
    return subscribeEventsStore(caller, request, sink);
  return fail(Texts.subscribeType);
}

function upstream(
  caller: Caller,
  sink: Sink<QueuesUpstreamResponse>,
  call: ServerDuplexStream<UpstreamRequest, QueuesUpstreamResponse>,
): Session<UpstreamRequest> {
  const session = new Upstream(caller, sink);
  const pending = new Pending(caller.server.limits.pendingSendsMax, call);
  return {
    request: (request) => pending.track(session.request(request), Math.max(1, request.Messages.length)),
    idle: () => pending.idle(),
  };
}

export function serviceImplementation(server: KubemqServer): UntypedServiceImplementation {
  return {
    Ping: unary(server, () => ping(server)),
    SendEvent: unary(server, (caller, event: Event) =>
      event.Store ? sendStoreEvent(caller, event) : sendEvent(caller, event),
    ),
    SendEventsStream: duplex(server, 'SendEventsStream', eventsStream),
    SubscribeToEvents: subscription(server, 'SubscribeToEvents', subscribeToEvents),
    SubscribeToRequests: subscription(server, 'SubscribeToRequests', subscribeRequests),
    SendRequest: unary(server, sendRequest),
    SendResponse: unary(server, (caller, response: Parameters<typeof sendResponse>[1]) => {
      sendResponse(caller, response);
      return {};
    }),
    SendQueueMessage: unary(server, sendQueueMessage),
    SendQueueMessagesBatch: unary(server, sendQueueBatch),
    ReceiveQueueMessages: unary(server, receiveQueueMessages),
    StreamQueueMessage: duplex(
      server,
      'StreamQueueMessage',
      (caller, sink) => new QueueTransaction(caller, sink),
    ),
    AckAllQueueMessages: unary(server, ackAllQueueMessages),
    QueuesDownstream: duplex(server, 'QueuesDownstream', (caller, sink) => new Downstream(caller, sink)),
    QueuesUpstream: duplex(server, 'QueuesUpstream', upstream),
    QueuesInfo: unary(server, queuesInfo),
  };
}

/** `ingress`: the broker's budget, which calls waiting for their login are charged to (./admission.ts). */
export function grpcServer(server: KubemqServer, ingress?: IngressBudget): Server {
  const { frameBytesMax } = messageLimitOf(server.limits.messageBytesMax);
  const grpc = new Server({
    'grpc.max_receive_message_length': frameBytesMax,
    'grpc.max_send_message_length': frameBytesMax,
    'grpc.keepalive_time_ms': server.limits.keepaliveMs,
    'grpc.keepalive_timeout_ms': server.limits.keepaliveTimeoutMs,
    // Node's HTTP/2 default is 2^32-1: one connection could open a subscription per stream without end.
    'grpc.max_concurrent_streams': server.limits.streamsPerConnectionMax,
    interceptors: [loginInterceptor(server, ingress)],
  });
  grpc.addService(kubemqService(), serviceImplementation(server));
  return grpc;
}
