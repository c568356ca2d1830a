/**
 * The HTTP admin listener (node:http, no framework): health, RabbitMQ-like JSON listings and
 * Prometheus metrics over core. Listings answer GET (and HEAD) only; policies and limits
 * (./policies.ts) also take PUT with a small JSON body and DELETE.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { CoreBroker, CoreClient } from '../core/api.js';
import { internalPrincipal } from '../core/entry/context.js';
import { ErrorCode, isBrokerError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { listenOn } from '../shared/net.js';
import { type AdminConnectionLimits, AdminConnections } from './connections.js';
import { HttpError } from './errors.js';
import { metricsContentType, renderMetrics } from './metrics.js';
import { policyRoutes } from './policies.js';
import * as views from './views.js';

export interface AdminLimits extends AdminConnectionLimits {
  /** Time for a request's line and headers to arrive (a request is only a head: GET and HEAD). */
  readonly headersTimeoutMs: number;
  /** A keep-alive socket without a request for this long is closed. */
  readonly idleTimeoutMs: number;
}

export interface AdminServerOptions {
  readonly host: string;
  /** 0 asks the OS for a free port. */
  readonly port: number;
  readonly core: CoreBroker;
  readonly info: views.AdminInfo;
  readonly logger: Logger;
  readonly limits: AdminLimits;
}

export interface RunningAdminServer {
  readonly port: number;
  close(): Promise<void>;
}

const pathBytesMax = 2048;
/** Request heads are small; a larger one is refused (431) before it is all held. */
const headerBytesMax = 8 * 1024;
/** How often Node looks for sockets past their header timeout (its default is every 30 s). */
const timeoutCheckMs = 500;

type Reply = { status: number; body: unknown } | { status: number; text: string; contentType: string };

type Listing = (core: CoreClient, vhosts: string[]) => unknown;

const listings: Record<string, Listing> = {
  exchanges: views.exchanges,
  queues: views.queues,
  bindings: views.bindings,
  streams: views.streams,
};

function vhostScope(core: CoreClient, encoded: string | undefined): string[] {
  if (encoded === undefined) return core.vhostNames();
  const name = decodeURIComponent(encoded);
  if (!core.vhostNames().includes(name)) throw new HttpError(404, 'not_found', `No vhost ${name}`);
  return [name];
}

/** Maps a GET path to its reply; throws `HttpError` for unknown paths. */
export function route(path: string, core: CoreClient, info: views.AdminInfo): Reply {
  if (path === '/metrics')
    return { status: 200, text: renderMetrics(core, info), contentType: metricsContentType };
  const parts = path.split('/').filter((part) => part !== '');
  if (parts[0] !== 'api' || parts.length > 3) throw new HttpError(404, 'not_found', `No route ${path}`);
  const [, resource, vhost] = parts;
  if (resource === 'health' && vhost === undefined) return { status: 200, body: { status: 'ok' } };
  if (resource === 'overview' && vhost === undefined)
    return { status: 200, body: views.overview(core, info) };
  if (resource === 'vhosts' && vhost === undefined) return { status: 200, body: views.vhosts(core) };
  const listing = resource === undefined ? undefined : listings[resource];
  if (listing === undefined) throw new HttpError(404, 'not_found', `No route ${path}`);
  return { status: 200, body: listing(core, vhostScope(core, vhost)) };
}

function send(res: ServerResponse, reply: Reply, head: boolean): void {
  const isText = 'text' in reply;
  const payload = isText ? reply.text : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': isText ? reply.contentType : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : payload);
}

function failure(err: unknown): Reply {
  if (err instanceof HttpError) return { status: err.status, body: { error: err.code, reason: err.message } };
  if (isBrokerError(err, ErrorCode.invalidArgument) || isBrokerError(err, ErrorCode.preconditionFailed))
    return { status: 400, body: { error: 'bad_request', reason: err.message } };
  if (isBrokerError(err, ErrorCode.notFound))
    return { status: 404, body: { error: err.code, reason: err.message } };
  if (err instanceof URIError)
    return { status: 400, body: { error: 'bad_request', reason: 'Malformed path' } };
  return { status: 500, body: { error: 'internal', reason: 'Internal error; see the broker log' } };
}

/** Until the admin API has logins, every request acts with core's internal principal. */
function clientFor(req: IncomingMessage, core: CoreBroker): CoreClient {
  return core.connect({
    principal: internalPrincipal,
    vhost: '/',
    connectionId: 'http',
    protocol: 'http',
    peerAddress: req.socket.remoteAddress ?? '',
  });
}

/** GET and HEAD carry no body; one announced is refused rather than read, and the socket closed. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** A PUT body: JSON, at most this many bytes (a policy or a limit is small). */
const bodyBytesMax = 64 * 1024;

function reject(res: ServerResponse, status: number, error: string, reason: string, head: boolean): void {
  send(res, { status, body: { error, reason } }, head);
}

const policyResources: ReadonlySet<string> = new Set([
  'policies',
  'operator-policies',
  'vhost-limits',
  'user-limits',
]);

/** The decoded segments after `/api` of a policy or limit path (./policies.ts); else undefined. */
function policyTarget(path: string): string[] | undefined {
  const parts = path.split('/').filter((part) => part !== '');
  if (parts[0] !== 'api' || !policyResources.has(parts[1] ?? '')) return undefined;
  return parts.slice(1).map(decodeURIComponent);
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      // Past the bound the rest is read and dropped (the request timeout bounds how long), so the
      // client hears the 413 before the socket closes.
      if (bytes > bodyBytesMax) {
        chunks.length = 0;
        reject(new HttpError(413, 'payload_too_large', `Bodies are at most ${bodyBytesMax} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (bytes > bodyBytesMax) return;
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        resolve(text === '' ? {} : (JSON.parse(text) as unknown));
      } catch {
        reject(new HttpError(400, 'bad_request', 'The body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

async function handlePolicy(
  req: IncomingMessage,
  res: ServerResponse,
  options: AdminServerOptions,
  parts: readonly string[],
): Promise<void> {
  const method = req.method ?? 'GET';
  const head = method === 'HEAD';
  try {
    if (!['GET', 'HEAD', 'PUT', 'DELETE'].includes(method)) {
      res.setHeader('allow', 'GET, HEAD, PUT, DELETE');
      throw new HttpError(405, 'method_not_allowed', `${method} is not supported`);
    }
    const body = method === 'PUT' ? await readBody(req) : undefined;
    const core = clientFor(req, options.core);
    const reply = await policyRoutes(core, head ? 'GET' : method, parts, body);
    if (reply === undefined) throw new HttpError(404, 'not_found', `No route ${req.url ?? ''}`);
    if (reply.status === 204 || reply.body === undefined) {
      res.writeHead(reply.status, { 'cache-control': 'no-store' }).end();
      return;
    }
    send(res, reply, head);
  } catch (err) {
    const reply = failure(err);
    if (reply.status === 500) options.logger.error({ err, path: req.url }, 'admin request failed');
    if (reply.status === 413) res.setHeader('connection', 'close');
    send(res, reply, head);
  }
}

function handle(req: IncomingMessage, res: ServerResponse, options: AdminServerOptions): void {
  const head = req.method === 'HEAD';
  const url = req.url ?? '/';
  if (url.length > pathBytesMax) {
    res.setHeader('connection', 'close');
    reject(res, 414, 'uri_too_long', 'Path too long', head);
    return;
  }
  const path = url.split('?')[0] ?? '/';
  let target: ReturnType<typeof policyTarget>;
  try {
    target = policyTarget(path);
  } catch (err) {
    send(res, failure(err), head);
    return;
  }
  if (target !== undefined) {
    void handlePolicy(req, res, options, target);
    return;
  }
  const withBody = hasBody(req);
  // The body is never read: the socket closes after the answer instead of draining it.
  if (withBody) res.setHeader('connection', 'close');
  if (req.method !== 'GET' && !head) {
    res.setHeader('allow', 'GET, HEAD');
    reject(res, 405, 'method_not_allowed', `${req.method} is not supported`, head);
    return;
  }
  if (withBody) {
    reject(res, 413, 'payload_too_large', 'Requests carry no body', head);
    return;
  }
  try {
    send(res, route(path, clientFor(req, options.core), options.info), head);
  } catch (err) {
    const reply = failure(err);
    if (reply.status === 500) options.logger.error({ err, path }, 'admin request failed');
    send(res, reply, head);
  }
}

export async function startAdminServer(options: AdminServerOptions): Promise<RunningAdminServer> {
  const { limits } = options;
  const connections = new AdminConnections(limits);
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.headersTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      connectionsCheckingInterval: timeoutCheckMs,
      maxHeaderSize: headerBytesMax,
    },
    (req, res) => {
      connections.busy(req.socket);
      res.once('finish', () => connections.idle(req.socket));
      handle(req, res, options);
    },
  );
  // A socket that sends nothing at all never starts a header timeout: this closes it.
  server.timeout = Math.max(limits.headersTimeoutMs, limits.idleTimeoutMs);
  server.on('connection', (socket: Socket) => connections.admit(socket));
  const port = await listenOn(server, options.host, options.port);
  server.on('error', (err) => options.logger.error({ err }, 'admin listener error'));
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise((resolve) => {
      server.close(() => resolve());
      // Keep-alive sockets would hold close() open until they time out; admin requests are idempotent.
      server.closeAllConnections();
    });
    return closing;
  };
  return { port, close };
}
