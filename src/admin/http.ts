/**
 * The HTTP admin listener (node:http, no framework): health, RabbitMQ-like JSON listings, the
 * management of users, permissions and objects (./manage.ts), policies and limits (./policies.ts), and
 * Prometheus metrics over core. Every route but `/api/health` needs a login (./access.ts); what the
 * user may then do is decided by core's authorizer, each request running as that user.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { CoreBroker, CoreClient } from '../core/api.js';
import { internalPrincipal, type Principal } from '../core/entry/context.js';
import { countedSocketOf, httpServer, type Security } from '../protocols/serve.js';
import { type ConnectionSlotLimits, ConnectionSlots } from '../shared/connection-slots.js';
import { ErrorCode, isBrokerError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { listenOn } from '../shared/net.js';
import {
  type AdminLogin,
  authenticate,
  basicCredentials,
  isMonitoring,
  managementTags,
  monitoringTags,
  realm,
} from './access.js';
import { isAssetPath, serveAsset } from './assets.js';
import { HttpError } from './errors.js';
import { extensionRoutes } from './extensions.js';
import type { Json } from './json.js';
import { kafkaAclRoutes } from './kafka-acls.js';
import { bindingListing, exchangeListing, queueListing } from './listings.js';
import { liveRoutes } from './live.js';
import {
  describeSession,
  hasSessionCookie,
  type LoginContext,
  login,
  loginBodyBytesMax,
  logout,
  sessionAccess,
} from './login.js';
import { manage } from './manage.js';
import { isMetricsPath, metricsContentType, renderMetrics, renderObjectMetrics } from './metrics.js';
import { node, objectRoutes } from './objects.js';
import {
  applyListing,
  type KeyedListing,
  type ListingQuery,
  listingQuery,
  pagedListing,
  RowSource,
  selectColumns,
} from './paging.js';
import { isPolicyResource, policyRoutes } from './policies.js';
import { historiesOf, queueTotals, sampled } from './samples.js';
import { csrfHeader, defaultSessionLimits, type SessionLimits, Sessions } from './sessions.js';
import * as views from './views.js';

export interface AdminLimits extends Required<ConnectionSlotLimits>, Partial<SessionLimits> {
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
  /** The broker's login gate: HTTP Basic credentials are checked there. */
  readonly auth: AdminLogin;
  /** `/metrics` answers without credentials (a loopback-only broker, or the `metricsOpen` setting). */
  readonly metricsOpen: boolean;
  /** HTTPS when `security.tls` is set (the `httpsPort` listener). */
  readonly security?: Security;
}

export interface RunningAdminServer {
  readonly port: number;
  close(): Promise<void>;
}

const pathBytesMax = 2048;
/** Request heads are small; a larger one is refused (431) before it is all held. */
const headerBytesMax = 8 * 1024;
/** The largest body a write takes (a definitions file of some thousands of users and permissions). */
const bodyBytesMax = 4 * 1024 * 1024;
/** How often Node looks for sockets past their header timeout (its default is every 30 s). */
const timeoutCheckMs = 500;
const allowedMethods = 'GET, HEAD, PUT, POST, DELETE';

/** `shaped`: a listing already filtered, sorted and paged as its query asked. */
type Reply =
  | { status: number; body: unknown; shaped?: boolean }
  | { status: number; text: string; contentType: string };

type JsonObject = { [key: string]: Json };

type Listing = (core: CoreClient, vhosts: string[]) => Array<{ readonly [key: string]: Json }>;

const listings: Record<string, Listing> = {
  vhosts: views.vhosts,
  streams: views.streams,
};

type KeyedAnswer = (
  core: CoreClient,
  vhosts: readonly string[],
  query: ListingQuery | undefined,
) => Json | RowSource;

function keyed<K>(make: (core: CoreClient, vhosts: readonly string[]) => KeyedListing<K>): KeyedAnswer {
  return (core, vhosts, query) => {
    const listing = make(core, vhosts);
    if (query !== undefined) return pagedListing(listing, query);
    return RowSource.of(listing.keys(undefined).keys, (keys) => listing.rows(keys));
  };
}

/** The listings that grow with the broker: paged on their keys before any row is built. */
const keyedListings: Record<string, KeyedAnswer> = {
  queues: keyed(queueListing),
  exchanges: keyed(exchangeListing),
  bindings: keyed(bindingListing),
};

/**
 * The vhosts a listing covers: the one named, or every vhost the caller may see — all of them for a
 * monitoring user, those it has permissions in otherwise (RabbitMQ's management user).
 */
function vhostScope(core: CoreClient, principal: Principal, name: string | undefined): string[] {
  const all = core.vhostNames();
  if (name !== undefined) {
    if (!all.includes(name)) throw new HttpError(404, 'not_found', `No vhost ${name}`);
    return [name];
  }
  if (isMonitoring(principal)) return all;
  const mine = new Set(core.describeAccess().vhosts);
  return all.filter((name) => mine.has(name));
}

/** The read-only listings; undefined when `path` is not one of them. */
function listing(
  url: string,
  core: CoreClient,
  principal: Principal,
  info: views.AdminInfo,
): Reply | undefined {
  const [path = '/', search = ''] = url.split('?', 2);
  const parts = path.split('/').filter((part) => part !== '');
  if (parts[0] !== 'api' || parts.length > 3) return undefined;
  const [, resource, vhost] = parts;
  if (resource === 'overview' && vhost === undefined) {
    const body = views.overview(core, info);
    const { rates, lengths } = historiesOf(search);
    const ring = core.meterSamples();
    const totals = queueTotals(body['queue_totals'] as JsonObject, ring, lengths);
    const stats = body['message_stats'] as JsonObject;
    return {
      status: 200,
      body: { ...body, queue_totals: totals, message_stats: rates ? sampled(stats, ring, rates) : stats },
    };
  }
  if (resource === 'nodes') {
    if (!isMonitoring(principal)) throw new HttpError(403, 'access_refused', 'Nodes need monitoring');
    const sockets = core.vhostNames().flatMap((v) => core.inVhost(v).listConnections()).length;
    const one = node(info, sockets);
    if (vhost !== undefined && decodeURIComponent(vhost) !== one['name'])
      throw new HttpError(404, 'not_found', `No node ${vhost}`);
    return { status: 200, body: vhost === undefined ? [one] : one };
  }
  if (resource === 'vhosts' && vhost !== undefined) return undefined;
  const rows = resource === undefined ? undefined : listings[resource];
  const keyedRows = resource === undefined ? undefined : keyedListings[resource];
  if (rows === undefined && keyedRows === undefined) return undefined;
  const scope = vhostScope(core, principal, vhost === undefined ? undefined : decodeURIComponent(vhost));
  if (keyedRows !== undefined)
    return { status: 200, body: keyedRows(core, scope, listingQuery(search)), shaped: true };
  return { status: 200, body: rows?.(core, scope) };
}

/**
 * Rows of a listing built and written before the event loop is given back: a slice of 10,000
 * queue rows held it 0.2–0.6 s, so a listing of 100,000 seconds (docs/performance.md, "Management
 * API"). RabbitMQ answers a listing without `page` whole; so does this API, a slice at a time.
 */
const listingSliceRows = 500;

/** The rows of a listing answer, when it is one long enough to write in slices. */
function rowsOf(reply: Reply): RowSource | undefined {
  if ('text' in reply) return undefined;
  const { body } = reply;
  if (body instanceof RowSource) return body;
  if (!Array.isArray(body) || body.length <= listingSliceRows) return undefined;
  return RowSource.of(body as Json[], (rows) => rows as Json[]);
}

/** Resolves once `res` may take more (or is gone). */
function writable(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const go = () => {
      res.off('drain', go);
      res.off('close', go);
      resolve();
    };
    res.on('drain', go);
    res.on('close', go);
  });
}

/**
 * A listing as one JSON array, chunked: each slice's rows built, serialised and written, then the
 * event loop given back (or, when the client reads slower, the socket's buffer drained), so neither
 * the turn nor the text held grows with the listing.
 */
async function sendRows(
  res: ServerResponse,
  status: number,
  source: RowSource,
  head: boolean,
): Promise<void> {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  if (head) {
    res.end();
    return;
  }
  let separator = '[';
  for (let start = 0; start < source.count && !res.destroyed; start += listingSliceRows) {
    const rows = source.rows(start, Math.min(start + listingSliceRows, source.count));
    if (rows.length === 0) continue;
    const more = res.write(separator + rows.map((row) => JSON.stringify(row)).join(','));
    separator = ',';
    if (!more) await writable(res);
    // Given back after a drain too: a socket that takes each write at once emits 'drain' from a
    // tick, and the slices then ran on in one turn (held 1.5-2.3 s for 100,000 queues).
    await new Promise((resolve) => setImmediate(resolve));
  }
  res.end(separator === '[' ? '[]' : ']');
}

function send(res: ServerResponse, reply: Reply, head: boolean): Promise<void> | undefined {
  const rows = rowsOf(reply);
  if (rows !== undefined) return sendRows(res, reply.status, rows, head);
  if (!('text' in reply) && reply.body === undefined) {
    res.writeHead(reply.status, { 'cache-control': 'no-store' });
    res.end();
    return undefined;
  }
  const isText = 'text' in reply;
  const payload = isText ? reply.text : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': isText ? reply.contentType : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : payload);
  return undefined;
}

/** A read's answer as its query asks: a listing filtered, sorted, paged; an object cut to columns. */
function shaped(req: IncomingMessage, reply: Reply, query: ListingQuery): Reply {
  if ((req.method !== 'GET' && req.method !== 'HEAD') || 'text' in reply || reply.status !== 200)
    return reply;
  const body = reply.body as Json;
  if (Array.isArray(body)) return { status: 200, body: applyListing(body, query) };
  const { columns } = query;
  return columns === undefined ? reply : { status: 200, body: selectColumns(body, columns) };
}

/** Core's refusals as RabbitMQ's management API answers them. */
const statusOf: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.notFound]: 404,
  [ErrorCode.accessRefused]: 403,
  [ErrorCode.invalidArgument]: 400,
  [ErrorCode.preconditionFailed]: 400,
  [ErrorCode.resourceLocked]: 409,
  [ErrorCode.resourceExhausted]: 409,
};

function failure(err: unknown): Reply {
  if (err instanceof HttpError) return { status: err.status, body: { error: err.code, reason: err.message } };
  const status = isBrokerError(err) ? statusOf[err.code] : undefined;
  // RabbitMQ's word for a request it cannot take as given.
  if (status !== undefined && isBrokerError(err))
    return { status, body: { error: status === 400 ? 'bad_request' : err.code, reason: err.message } };
  if (err instanceof URIError)
    return { status: 400, body: { error: 'bad_request', reason: 'Malformed path' } };
  return { status: 500, body: { error: 'internal', reason: 'Internal error; see the broker log' } };
}

/** A connection into core per request, as the user who logged in. */
function clientFor(req: IncomingMessage, core: CoreBroker, principal: Principal): CoreClient {
  return core.connect({
    principal,
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

/** A policy or a limit is small: its body is bounded tighter than a definitions file's. */
const policyBodyBytesMax = 64 * 1024;

/** A write's JSON body (undefined when empty); 413 past `bytesMax`, 400 when it is not JSON. */
async function readJson(req: IncomingMessage, bytesMax: number): Promise<Json | undefined> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > bytesMax)
      throw new HttpError(413, 'payload_too_large', `Bodies are at most ${bytesMax} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as Json;
  } catch {
    throw new HttpError(400, 'bad_request', 'The body is not JSON');
  }
}

/** Refusals of the request line itself: method, a body on a read, a path too long. */
function refusedRequest(req: IncomingMessage, res: ServerResponse): Reply | undefined {
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (!read && !['PUT', 'POST', 'DELETE'].includes(req.method ?? '')) {
    res.setHeader('allow', allowedMethods);
    return { status: 405, body: { error: 'method_not_allowed', reason: `${req.method} is not supported` } };
  }
  if (read && hasBody(req)) {
    // The body is never read: the socket closes after the answer instead of draining it.
    res.setHeader('connection', 'close');
    return { status: 413, body: { error: 'payload_too_large', reason: 'Reads carry no body' } };
  }
  if ((req.url ?? '/').length > pathBytesMax)
    return { status: 414, body: { error: 'uri_too_long', reason: 'Path too long' } };
  return undefined;
}

/**
 * Who may ask: `/api/health` anybody; `/metrics` anybody on a broker reachable from loopback only
 * (or with `metricsOpen`), a monitoring user otherwise; every other route a management user.
 */
async function admit(req: IncomingMessage, res: ServerResponse, path: string, server: Server) {
  const anyone = { ok: true, principal: internalPrincipal } as const;
  if (path === '/api/health' && (req.method === 'GET' || req.method === 'HEAD')) return anyone;
  if (isMetricsPath(path) && server.options.metricsOpen) return anyone;
  const tagged = isMetricsPath(path) ? monitoringTags : managementTags;
  // Basic credentials win over a cookie: scripts keep working in a browser that is logged in.
  const access =
    basicCredentials(req) === undefined && hasSessionCookie(req)
      ? sessionAccess(req, server.login, tagged)
      : await authenticate(req, server.options.auth, tagged);
  // The dashboard asks for no browser login dialog: it shows its own form.
  if (!access.ok && access.status === 401 && req.headers[csrfHeader] === undefined) {
    // RFC 6750 §3: a refused token is answered in its own scheme.
    const challenge =
      access.bearer === true ? `Bearer realm="${realm}", error="invalid_token"` : `Basic realm="${realm}"`;
    res.setHeader('www-authenticate', challenge);
  }
  return access;
}

/** The dashboard's login routes, answered before any access check; undefined for other paths. */
async function sessionRoute(req: IncomingMessage, res: ServerResponse, path: string, server: Server) {
  if (path === '/api/login' && req.method === 'POST') {
    // Only JSON: a form on another site cannot send it, so it cannot log a browser in as someone else.
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
      throw new HttpError(415, 'unsupported_media_type', 'The login body is JSON (application/json)');
    return login(req, res, server.login, await readJson(req, loginBodyBytesMax), managementTags);
  }
  if (path === '/api/logout' && req.method === 'POST') return logout(req, res, server.login);
  if (path === '/api/session' && req.method === 'GET') return describeSession(req, server.login);
  return undefined;
}

/** What every request of one listener shares. */
interface Server {
  readonly options: AdminServerOptions;
  readonly login: LoginContext;
}

async function answer(req: IncomingMessage, res: ServerResponse, path: string, server: Server) {
  const session = await sessionRoute(req, res, path, server);
  if (session !== undefined) return session;
  const { options } = server;
  const access = await admit(req, res, path, server);
  if (!access.ok) return { status: access.status, body: { error: 'not_authorized', reason: access.reason } };
  const { principal } = access;
  if (path === '/api/health') return { status: 200, body: { status: 'ok' } };
  const core = clientFor(req, options.core, principal);
  if (isMetricsPath(path)) {
    const text =
      renderObjectMetrics(core, options.info, req.url ?? path) ?? renderMetrics(core, options.info);
    return { status: 200, text, contentType: metricsContentType };
  }
  const read = req.method === 'GET' || req.method === 'HEAD';
  const listed = read ? listing(req.url ?? path, core, principal, options.info) : undefined;
  if (listed !== undefined) return listed;
  const parts = path.split('/').filter((part) => part !== '');
  if (parts[0] !== 'api') throw new HttpError(404, 'not_found', `No route ${path}`);
  const policy = isPolicyResource(parts[1]);
  const body = read ? undefined : await readJson(req, policy ? policyBodyBytesMax : bodyBytesMax);
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const decoded = parts.slice(1).map(decodeURIComponent);
  const reason = req.headers['x-reason'];
  const live = liveRoutes(
    core,
    req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET'),
    decoded,
    (vhost) => vhostScope(core, principal, vhost),
    typeof reason === 'string' ? reason : undefined,
  );
  if (live !== undefined) return live;
  const extension = await extensionRoutes(
    core,
    method,
    decoded,
    vhostScope(core, principal, undefined),
    body,
    options.info.kafkaTopics,
    options.info.kubemqChannels,
  );
  if (extension !== undefined) return extension;
  const managed = await manage(core, method, decoded, body, options.info.version);
  if (managed !== undefined) return managed;
  const acls = await kafkaAclRoutes(core, method, decoded, body);
  if (acls !== undefined) return acls;
  const routed = await objectRoutes(core, method, decoded, body);
  if (routed?.location !== undefined) res.setHeader('location', `${path}/${routed.location}`);
  if (routed !== undefined) return routed;
  if (policy && (method === 'GET' || method === 'PUT' || method === 'DELETE')) {
    const reply = await policyRoutes(core, method, decoded, body ?? {});
    if (reply !== undefined) return reply;
  }
  if (read) throw new HttpError(404, 'not_found', `No route ${path}`);
  res.setHeader('allow', allowedMethods);
  return {
    status: 405,
    body: { error: 'method_not_allowed', reason: `${req.method} ${path} is not a route` },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, server: Server): Promise<void> {
  const { options } = server;
  const head = req.method === 'HEAD';
  const refused = refusedRequest(req, res);
  if (refused !== undefined) {
    send(res, refused, head);
    return;
  }
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  try {
    // The dashboard's files hold no data: they are served to anybody, as the login form must be.
    if ((req.method === 'GET' || head) && isAssetPath(path)) return await serveAsset(req, res, path);
    const query = listingQuery(queryAt === -1 ? '' : url.slice(queryAt + 1));
    const reply = await answer(req, res, path, server);
    const done = query === undefined || ('shaped' in reply && reply.shaped === true);
    await send(res, done ? reply : shaped(req, reply, query), head);
  } catch (err) {
    // A listing that failed part-written: its status is sent, so the client sees the answer cut.
    if (res.headersSent) {
      options.logger.error({ err, path }, 'admin listing failed while written');
      res.destroy();
      return;
    }
    // The client went away while its body was being read: nothing failed on this side. (The request
    // stream is destroyed once its body is read in full or abandoned, so it is the response's
    // socket that tells.)
    if (res.socket === null || res.socket.destroyed) {
      options.logger.debug({ err, path }, 'admin request abandoned by its client');
      return;
    }
    const reply = failure(err);
    if (reply.status === 500) options.logger.error({ err, path }, 'admin request failed');
    // A write whose body was not read in full: the socket closes rather than drain the rest.
    if (reply.status === 413) res.setHeader('connection', 'close');
    send(res, reply, head);
  }
}

export async function startAdminServer(options: AdminServerOptions): Promise<RunningAdminServer> {
  const { limits } = options;
  const connections = new ConnectionSlots(limits);
  const security = options.security ?? { tls: undefined, handshakeTimeoutMs: 0, logger: options.logger };
  const sessions = new Sessions(options.core.clock, {
    sessionTtlMs: limits.sessionTtlMs ?? defaultSessionLimits.sessionTtlMs,
    sessionsMax: limits.sessionsMax ?? defaultSessionLimits.sessionsMax,
  });
  const login = { core: options.core, auth: options.auth, sessions, secure: security.tls !== undefined };
  const shared: Server = { options, login };
  let countedOf: (socket: Socket) => Socket = (socket) => socket;
  // Sockets count from their TCP accept, under HTTPS too: the rule of every listener (../protocols/serve.ts).
  const server = httpServer(
    security,
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.headersTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      connectionsCheckingInterval: timeoutCheckMs,
      maxHeaderSize: headerBytesMax,
    },
    (req, res) => {
      const counted = countedOf(req.socket);
      connections.busy(counted);
      res.once('finish', () => connections.idle(counted));
      handle(req, res, shared).catch((err: unknown) => {
        options.logger.error({ err }, 'admin request failed');
        if (!res.headersSent) send(res, failure(err), false);
        else res.destroy();
      });
    },
  );
  // A socket that sends nothing at all never starts a header timeout: this closes it.
  server.timeout = Math.max(limits.headersTimeoutMs, limits.idleTimeoutMs);
  server.on('connection', (socket: Socket) => {
    if (!connections.admit(socket)) socket.destroy();
  });
  countedOf = countedSocketOf(server, security);
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
