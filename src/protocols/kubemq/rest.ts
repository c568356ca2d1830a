/**
 * The REST and WebSocket face (KubeMQ's port 9090): every path of KubeMQ's REST API, answering in its
 * envelope `{"is_error", "message", "data"}` (HTTP 200, or 400 with the error text), with the proto
 * messages as JSON (./json.ts), CORS open to any origin. Subscriptions and streams are WebSockets; a
 * subscription that fails its checks is refused with a 400 envelope before the upgrade.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { status } from '@grpc/grpc-js';
import { WebSocketServer } from 'ws';
import type { IngressBudget } from '../ingress.js';
import type { ListenerContext } from '../listener.js';
import { type AddressCap, capPerAddress, httpServer, securityOf } from '../serve.js';
import { tlsStateOf } from '../tls.js';
import { type TooBig, webSocketServerOptions, webSocketTransport } from '../transport.js';
import { RestAdmission } from './admission.js';
import { asFailure, KubemqFailure, Texts, tokenExpired } from './errors.js';
import { sendEvent, subscribeEvents } from './events.js';
import { sendStoreEvent, subscribeEventsStore } from './events-store.js';
import { ping, queuesInfo } from './info.js';
import { messageJson, parseMessage } from './json.js';
import { QueueTransaction } from './queue-transaction.js';
import { ackAllQueueMessages, receiveQueueMessages, sendQueueBatch, sendQueueMessage } from './queues.js';
import { sendRequest, sendResponse, subscribeRequests } from './rpc.js';
import type { Caller, KubemqServer } from './server.js';
import type { Sink } from './sink.js';
import {
  type Event,
  type Result,
  StoreStart,
  type StreamQueueMessagesRequest,
  type StreamQueueMessagesResponse,
  type Subscribe,
  SubscribeType,
} from './types.js';
import { webSocketSink } from './ws.js';

type Handler = (caller: Caller, body: string, url: URL) => Promise<{ type: string; data: unknown }>;

const corsHeaders = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': 'Content-Type, Authorization',
};

function envelope(isError: boolean, message: string, data: string): string {
  return `{"is_error":${isError},"message":${JSON.stringify(message)},"data":${data}}`;
}

function reply(server: KubemqServer, res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, {
    ...corsHeaders,
    'content-type': 'application/json; charset=UTF-8',
    broker: server.host,
    'x-powered-by': `Switchyard ${server.version}`,
  });
  res.end(body);
}

/** Unary handlers by method and path; each reads its proto message and answers with one. */
function routes(): Map<string, Handler> {
  const json = <T>(type: string, body: string) => parseMessage<T>(type, body === '' ? '{}' : body);
  const out = (type: string, data: unknown) => ({ type, data });
  return new Map<string, Handler>([
    ['GET /ping', async (caller) => out('PingResult', ping(caller.server))],
    [
      'POST /send/event',
      async (caller, body) => {
        const event = json<Event>('Event', body);
        return out('Result', event.Store ? await sendStoreEvent(caller, event) : sendEvent(caller, event));
      },
    ],
    [
      'POST /send/request',
      async (caller, body) => out('Response', await sendRequest(caller, json('Request', body))),
    ],
    [
      'POST /send/response',
      async (caller, body) => {
        sendResponse(caller, json('Response', body));
        return out('Empty', null);
      },
    ],
    [
      'POST /queue/send',
      async (caller, body) =>
        out('SendQueueMessageResult', await sendQueueMessage(caller, json('QueueMessage', body))),
    ],
    [
      'POST /queue/send_batch',
      async (caller, body) =>
        out(
          'QueueMessagesBatchResponse',
          await sendQueueBatch(caller, json('QueueMessagesBatchRequest', body)),
        ),
    ],
    [
      'POST /queue/receive',
      async (caller, body) =>
        out(
          'ReceiveQueueMessagesResponse',
          await receiveQueueMessages(caller, json('ReceiveQueueMessagesRequest', body)),
        ),
    ],
    [
      'POST /queue/ack_all',
      async (caller, body) =>
        out(
          'AckAllQueueMessagesResponse',
          await ackAllQueueMessages(caller, json('AckAllQueueMessagesRequest', body)),
        ),
    ],
    [
      'GET /queue/info',
      async (caller, body, url) => {
        const request = json<{ RequestID: string; QueueName: string }>('QueuesInfoRequest', body);
        const param = (name: string) => {
          for (const [key, value] of url.searchParams)
            if (key.toLowerCase().replace('_', '') === name) return value;
          return undefined;
        };
        request.QueueName = param('queuename') ?? request.QueueName;
        request.RequestID = param('requestid') ?? request.RequestID;
        return out('QueuesInfoResponse', queuesInfo(caller, request));
      },
    ],
  ]);
}

/** Reads a request body of at most `bytesMax`; undefined when larger. */
function readBody(req: IncomingMessage, bytesMax: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bytesMax) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function callerOf(server: KubemqServer, req: IncomingMessage): Promise<Caller> {
  const peer = req.socket.remoteAddress ?? '';
  const secure = 'encrypted' in req.socket ? tlsStateOf(req.socket as TLSSocket) : undefined;
  const credentials = { token: req.headers.authorization, certificate: secure?.peerCertificate };
  return server.caller(await server.login(credentials, peer), peer);
}

/** A refused login is 401, a user without permissions in the vhost 403; anything else 400. */
function refusalStatus(err: unknown): number {
  const failure = asFailure(err);
  if (failure.code === status.UNAUTHENTICATED) return 401;
  return failure.code === status.PERMISSION_DENIED ? 403 : 400;
}

async function serve(
  server: KubemqServer,
  table: Map<string, Handler>,
  admission: RestAdmission,
  req: IncomingMessage,
  res: ServerResponse,
) {
  res.on('close', () => admission.done(req));
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'OPTIONS') {
    res.writeHead(204, corsHeaders).end();
    return;
  }
  const handler = table.get(`${req.method} ${url.pathname}`);
  if (handler === undefined) {
    reply(server, res, 404, envelope(true, 'Not Found', 'null'));
    return;
  }
  let caller: Caller;
  try {
    caller = await callerOf(server, req);
  } catch (err) {
    reply(server, res, refusalStatus(err), envelope(true, asFailure(err).message, 'null'));
    return;
  }
  admission.loggedIn(req);
  res.on('close', () => caller.close());
  const body = await readBody(req, server.limits.jsonBytesMax);
  if (body === undefined) {
    reply(server, res, 413, envelope(true, 'Request Entity Too Large', 'null'));
    return;
  }
  try {
    const { type, data } = await handler(caller, body, url);
    reply(server, res, 200, envelope(false, 'OK', type === 'Empty' ? 'null' : messageJson(type, data)));
  } catch (err) {
    reply(server, res, refusalStatus(err), envelope(true, asFailure(err).message, 'null'));
  } finally {
    caller.close();
  }
}

/** A subscription from the query string, as KubeMQ reads it. */
function subscribeOf(url: URL): Subscribe {
  const q = url.searchParams;
  const types: Record<string, number> = {
    events: SubscribeType.events,
    events_store: SubscribeType.eventsStore,
    commands: SubscribeType.commands,
    queries: SubscribeType.queries,
  };
  const storeType = Number.parseInt(q.get('events_store_type_data') ?? '0', 10);
  const value = q.get('events_store_type_value') ?? '0';
  return {
    SubscribeTypeData: types[q.get('subscribe_type') ?? ''] ?? 0,
    ClientID: q.get('client_id') ?? '',
    Channel: q.get('channel') ?? '',
    Group: q.get('group') ?? '',
    EventsStoreTypeData:
      storeType >= StoreStart.newOnly && storeType <= StoreStart.atTimeDelta ? storeType : 0,
    EventsStoreTypeValue: /^-?\d{1,19}$/.test(value) ? value : '0',
  };
}

/** The sink's item type follows the path (`replyTypes`); each handler names its own. */
// biome-ignore lint/suspicious/noExplicitAny: one table holds sinks of several item types
type UpgradeHandler = (caller: Caller, url: URL, sink: Sink<any>) => Promise<void> | void;

const upgrades = new Map<string, UpgradeHandler>([
  [
    '/subscribe/events',
    (caller, url, sink) => {
      const request = subscribeOf(url);
      if (request.SubscribeTypeData === SubscribeType.events) return subscribeEvents(caller, request, sink);
      if (request.SubscribeTypeData === SubscribeType.eventsStore)
        return subscribeEventsStore(caller, request, sink);
      throw new KubemqFailure(Texts.subscribeType);
    },
  ],
  ['/subscribe/requests', (caller, url, sink) => subscribeRequests(caller, subscribeOf(url), sink)],
]);

/** Streams whose frames are requests: each text frame is parsed as `type` and handed to the session. */
interface StreamPath {
  readonly type: string;
  // biome-ignore lint/suspicious/noExplicitAny: one table holds streams of several item types
  readonly open: (caller: Caller, sink: Sink<any>) => (request: any) => void;
}

const streams = new Map<string, StreamPath>([
  [
    '/send/stream',
    {
      type: 'Event',
      open: (caller, sink: Sink<Result>) => (event: Event) => {
        const sent = event.Store
          ? sendStoreEvent(caller, event)
          : Promise.resolve().then(() => sendEvent(caller, event));
        sent
          .catch(
            (err: unknown): Result => ({
              EventID: event.EventID,
              Sent: false,
              Error: asFailure(err).message,
            }),
          )
          .then((result) => sink.write(result))
          .catch((err: unknown) => caller.server.logger.debug({ err }, 'kubemq: a result was not written'));
      },
    },
  ],
  [
    '/queue/stream',
    {
      type: 'StreamQueueMessagesRequest',
      open: (caller, sink: Sink<StreamQueueMessagesResponse>) => {
        const transaction = new QueueTransaction(caller, sink);
        return (request: StreamQueueMessagesRequest) => transaction.request(request);
      },
    },
  ],
]);

const replyTypes: Record<string, string> = {
  '/subscribe/events': 'EventReceive',
  '/subscribe/requests': 'Request',
  '/send/stream': 'Result',
  '/queue/stream': 'StreamQueueMessagesResponse',
};

const httpReasons: Readonly<Record<number, string>> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
};

function refuse(socket: Duplex, code: number, body: string): void {
  const reason = httpReasons[code] ?? 'Bad Request';
  socket.end(
    `HTTP/1.1 ${code} ${reason}\r\nContent-Type: application/json; charset=UTF-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** What every upgrade of one REST listener shares. */
interface Upgrades {
  readonly wss: WebSocketServer;
  readonly admission: RestAdmission;
  readonly ingress: IngressBudget | undefined;
}

function upgrade(server: KubemqServer, shared: Upgrades, req: IncomingMessage, socket: Duplex, head: Buffer) {
  const { admission } = shared;
  const url = new URL(req.url ?? '/', 'http://localhost');
  const typeName = replyTypes[url.pathname];
  if (typeName === undefined) {
    refuse(socket, 404, envelope(true, 'Not Found', 'null'));
    return;
  }
  callerOf(server, req).then(
    (caller) => {
      admission.loggedIn(req);
      upgradeAs(server, shared, caller, { req, socket, head, url, typeName });
      admission.done(req, true);
    },
    (err: unknown) => refuse(socket, refusalStatus(err), envelope(true, asFailure(err).message, 'null')),
  );
}

interface Upgrade {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly url: URL;
  readonly typeName: string;
}

function upgradeAs(server: KubemqServer, shared: Upgrades, caller: Caller, upgrade: Upgrade): void {
  const { req, socket, head, url, typeName } = upgrade;
  const { wss, ingress } = shared;
  const sink = webSocketSink<unknown>(typeName, server.limits.deliveryWindow);
  sink.onClose(() => caller.close());
  caller.onExpire(() => sink.end(tokenExpired()));
  const stream = streams.get(url.pathname);
  const take = stream?.open(caller, sink);
  Promise.resolve()
    .then(() => {
      listWebSocket(caller, req.socket, sink);
      return upgrades.get(url.pathname)?.(caller, url, sink);
    })
    .then(
      () =>
        wss.handleUpgrade(req, socket, head, (ws) => {
          // Text frames only, as KubeMQ (a binary frame is its Error 204, and is skipped).
          const transport = webSocketTransport(ws, req.socket as Socket, {
            text: true,
            tooBig: tooBig(server.limits.jsonBytesMax),
          });
          if (stream === undefined || take === undefined) return sink.attach(transport, undefined, ingress);
          const onText = (text: string) => {
            try {
              take(parseMessage<never>(stream.type, text));
            } catch (err) {
              server.logger.debug({ err }, 'kubemq: a WebSocket frame was skipped');
            }
          };
          sink.attach(transport, onText, ingress);
        }),
      (err: unknown) => {
        sink.end();
        refuse(socket, refusalStatus(err), envelope(true, asFailure(err).message, 'null'));
      },
    );
}

/**
 * A message past `jsonBytesMax`: KubeMQ's error envelope, as its server sends when a subscription's
 * socket fails, then 1009 (RFC 6455 §7.4.1) with the limit as the reason.
 */
function tooBig(jsonBytesMax: number): TooBig {
  const text = `message larger than ${jsonBytesMax} bytes (jsonBytesMax): the connection is closed`;
  return {
    farewell: envelope(true, text, 'null'),
    reason: `message over ${jsonBytesMax} bytes (jsonBytesMax)`,
  };
}

/** A WebSocket is listed in `/api/connections` while it lasts (./presence.ts); an operator's close ends it. */
function listWebSocket(caller: Caller, socket: Socket, sink: { end(error?: Error): void }): void {
  caller.register(
    {
      peerHost: socket.remoteAddress ?? '',
      peerPort: socket.remotePort,
      host: socket.localAddress ?? '',
      port: socket.localPort,
      tls: 'encrypted' in socket,
    },
    (reason) =>
      sink.end(new KubemqFailure(`connection closed by an operator: ${reason}`, status.UNAVAILABLE)),
  );
}

/** A socket past `webConnectionsPerAddressMax` is answered 503 in KubeMQ's envelope. */
const tooManyFromAddress = {
  contentType: 'application/json; charset=UTF-8',
  body: (connectionsMax: number) =>
    envelope(true, `more than ${connectionsMax} connections from this address; retry later`, 'null'),
};

/**
 * How often Node looks for requests past their head or whole-request time: its default (30 s) let a
 * head sent a byte at a time hold its socket three times `handshakeTimeoutMs`.
 */
const timeoutCheckMs = 1000;

/**
 * The REST and WebSocket face on an HTTP server, or an HTTPS one when `context` carries TLS. A request
 * whose head has not come within `handshakeTimeoutMs`, or that is not whole within the limits'
 * `requestTimeoutMs`, is answered 408 and closed; what requests hold before their login is bounded by
 * the ingress budget (./admission.ts).
 */
export function restServer(server: KubemqServer, context: ListenerContext): Server {
  const table = routes();
  const admission = new RestAdmission(context.ingress);
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: server.limits.jsonBytesMax,
    ...webSocketServerOptions,
  });
  const { handshakeTimeoutMs } = context.config;
  const options = {
    headersTimeout: handshakeTimeoutMs,
    requestTimeout: Math.max(server.limits.requestTimeoutMs, handshakeTimeoutMs),
    connectionsCheckingInterval: timeoutCheckMs,
  };
  const security = securityOf(context);
  let cap: AddressCap | undefined;
  const http = httpServer(security, options, (req, res) => {
    if (cap?.request(req, res) === false) return;
    serve(server, table, admission, req, res).catch((err: unknown) => {
      // The client went away while its body was read: nothing failed on this side.
      if (res.socket === null || res.socket.destroyed) {
        server.logger.debug({ err }, 'kubemq: a REST request abandoned by its client');
        return;
      }
      server.logger.warn({ err }, 'kubemq: a REST request failed');
      if (!res.headersSent) reply(server, res, 500, envelope(true, 'internal error', 'null'));
    });
  });
  cap = capPerAddress(http, security, context.config.webConnectionsPerAddressMax, tooManyFromAddress);
  admission.watch(http, context.tls !== undefined);
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (!cap.upgrade(req, socket)) return;
    upgrade(server, { wss, admission, ingress: context.ingress }, req, socket, head);
  });
  http.on('close', () => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  });
  return http;
}
