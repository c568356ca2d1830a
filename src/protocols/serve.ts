/**
 * Binding a listener's port, plain or TLS: the one place that creates servers for every front end.
 * Protocols that frame their own bytes (AMQP, MQTT, Kafka) get each connection as a `Transport`
 * (`serveTransports`); HTTP faces (the admin API, MQTT's and KubeMQ's WebSocket upgrades, KubeMQ
 * REST) get a node:http or node:https server (`serveHttp`). Under TLS both take the context's
 * certificate, follow its reloads, refuse a client certificate that does not verify, and give the
 * handshake no longer than `handshakeTimeoutMs`.
 */
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type RequestListener,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import type { Config } from '../config/schema.js';
import { ConnectionSlots } from '../shared/connection-slots.js';
import type { Logger } from '../shared/logger.js';
import { listenOn } from '../shared/net.js';
import type { ListenerContext, RunningListener } from './listener.js';
import { followReloads, type ListenerTls, peerAdmitted, tlsServerOptions } from './tls.js';
import { sharedReadsTransport, type Transport, tcpTransport, tlsTransport } from './transport.js';

/** A protocol's side of a listener: it takes connections, and closes them all at shutdown. */
export interface Acceptor {
  /** A new connection; the protocol owns it from here (and closes it at once when it is full). */
  accept(transport: Transport): void;
  /** Closes every connection it took; resolves when they are gone. */
  close(): Promise<void>;
}

export interface ServeOptions {
  /**
   * Bound to IPv4 loopback, also take the same port on `::1`, best effort: clients resolve
   * `localhost` to either (RabbitMQ's default listens on both). A failure (no IPv6) is ignored.
   */
  readonly loopbackTwin?: boolean;
  /**
   * Plain TCP connections read into one buffer shared by all, or where their receiver says
   * (`sharedReadsTransport`): for a protocol whose receiver copies what it keeps (Kafka). TLS
   * connections read as usual.
   */
  readonly sharedReads?: boolean;
}

/** What a server needs to speak TLS: the material (none on a plain listener) and the handshake's time. */
export interface Security {
  readonly tls: ListenerTls | undefined;
  readonly handshakeTimeoutMs: number;
  readonly logger: Logger;
}

/** What binding a port takes from a listener's context (a test may give just this). */
export type ServeContext = Pick<ListenerContext, 'host' | 'port' | 'tls' | 'logger'> & {
  readonly config: Pick<Config, 'handshakeTimeoutMs'>;
};

export function securityOf(context: ServeContext): Security {
  return { tls: context.tls, handshakeTimeoutMs: context.config.handshakeTimeoutMs, logger: context.logger };
}

/** A TCP server, or a TLS one under `security`, whose connections go to `onSocket`. */
function streamServer(
  security: Security,
  onSocket: (transport: Transport) => void,
  sharedReads: boolean,
): NetServer {
  const { tls } = security;
  if (tls === undefined && sharedReads) {
    // Paused until the handle has moved to a socket that reads where it is told.
    return createNetServer({ pauseOnConnect: true }, (socket: Socket) =>
      onSocket(sharedReadsTransport(socket)),
    );
  }
  if (tls === undefined) return createNetServer((socket: Socket) => onSocket(tcpTransport(socket)));
  const material = tls.current();
  const server: TlsServer = createTlsServer(
    tlsServerOptions(material, security.handshakeTimeoutMs),
    (socket: TLSSocket) => {
      if (peerAdmitted(socket, material.clientAuth)) onSocket(tlsTransport(socket));
      else refuse(security, socket);
    },
  );
  watchHandshakes(security, server);
  followReloads(server, tls);
  return server;
}

function refuse(security: Security, socket: TLSSocket): void {
  security.logger.debug(
    { remote: socket.remoteAddress, reason: socket.authorizationError?.message },
    'tls: client certificate did not verify; closed',
  );
  socket.destroy();
}

/** Failed handshakes (plaintext on a TLS port, an unknown CA, a timeout) close the socket; log why. */
function watchHandshakes(security: Security, server: TlsServer): void {
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    security.logger.debug({ err, remote: socket.remoteAddress }, 'tls: handshake failed');
    socket.destroy();
  });
}

/** Binds the context's port and hands every connection to `acceptor`. */
export async function serveTransports(
  context: ServeContext,
  acceptor: Acceptor,
  options: ServeOptions = {},
): Promise<RunningListener> {
  const security = securityOf(context);
  const sharedReads = options.sharedReads === true && security.tls === undefined;
  const server = streamServer(security, (transport) => acceptor.accept(transport), sharedReads);
  server.on('error', (err) => context.logger.error({ err }, 'listener error'));
  let port: number;
  try {
    port = await listenOn(server, context.host, context.port);
  } catch (err) {
    await acceptor.close();
    throw err;
  }
  const servers = [server];
  const twin =
    options.loopbackTwin === true ? await loopbackTwin(server, port, context.host, sharedReads) : undefined;
  if (twin !== undefined) servers.push(twin);
  return {
    port,
    async close() {
      const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      await acceptor.close();
      await Promise.all(closed);
    },
  };
}

async function loopbackTwin(
  server: NetServer,
  port: number,
  host: string,
  pauseOnConnect: boolean,
): Promise<NetServer | undefined> {
  if (host !== '127.0.0.1' && host !== 'localhost') return undefined;
  // Its sockets go through the main server's own 'connection' handling (the TLS handshake included),
  // made paused as the main server's are when it moves their handles.
  const twin = createNetServer({ pauseOnConnect }, (socket: Socket) => server.emit('connection', socket));
  try {
    await listenOn(twin, '::1', port);
    return twin;
  } catch {
    return undefined;
  }
}

/** An HTTP server, or an HTTPS one under `security`; not yet bound. */
export function httpServer(
  security: Security,
  options: ServerOptions,
  handler?: RequestListener,
): HttpServer {
  const { tls } = security;
  if (tls === undefined) return createHttpServer(options, handler);
  const material = tls.current();
  const server = createHttpsServer(
    { ...options, ...tlsServerOptions(material, security.handshakeTimeoutMs) },
    handler,
  );
  // Ahead of node:https's own listener, so a refused client never reaches the HTTP parser.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    if (!peerAdmitted(socket, material.clientAuth)) refuse(security, socket);
  });
  watchHandshakes(security, server);
  followReloads(server, tls);
  return server;
}

/** Seconds a client refused for its address's cap is told to wait (`Retry-After`). */
const refusedRetryAfterSeconds = 5;
/** A refused socket that sends no request within this long is closed unanswered. */
const refusedWaitMs = 2000;

/** What a refused client is answered with, in its surface's own form. */
export interface Refusal {
  readonly contentType: string;
  body(connectionsPerAddressMax: number): string;
}

/** The per-address cap of one HTTP face: each request and upgrade asks it first. */
export interface AddressCap {
  /** False when the socket was over its address's cap: then `res` has been answered 503. */
  request(req: IncomingMessage, res: ServerResponse): boolean;
  /** False when the socket was over its address's cap: then `socket` has been answered 503. */
  upgrade(req: IncomingMessage, socket: Duplex): boolean;
}

/**
 * Caps the sockets one client address holds on `http` (the admin API's rule, ../shared/connection-slots.ts).
 * A socket past the cap is answered 503 with `Retry-After` at its first request, or closed after
 * `refusedWaitMs` without one: an HTTP or WebSocket client then reports "503 Service Unavailable"
 * rather than a connection reset it would take for a network fault. Under TLS the sockets counted
 * are the TLS ones, which requests arrive on.
 */
export function capPerAddress(
  http: HttpServer,
  security: Security,
  connectionsPerAddressMax: number,
  refusal: Refusal,
): AddressCap {
  const slots = new ConnectionSlots({ connectionsPerAddressMax });
  const refused = new WeakSet<Socket>();
  http.on(security.tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => {
    if (slots.admit(socket)) return;
    refused.add(socket);
    const timer = setTimeout(() => socket.destroy(), refusedWaitMs);
    socket.once('close', () => clearTimeout(timer));
  });
  const answer = () => {
    const body = refusal.body(connectionsPerAddressMax);
    const head = {
      'content-type': refusal.contentType,
      'content-length': String(Buffer.byteLength(body)),
      'retry-after': String(refusedRetryAfterSeconds),
      connection: 'close',
    };
    return { head, body };
  };
  return {
    request(req, res) {
      if (refused.has(req.socket)) {
        const { head, body } = answer();
        res.writeHead(503, head).end(body);
        return false;
      }
      slots.busy(req.socket);
      res.once('finish', () => slots.idle(req.socket));
      return true;
    },
    upgrade(req, socket) {
      if (refused.has(req.socket)) {
        const { head, body } = answer();
        const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}\r\n`);
        socket.end(`HTTP/1.1 503 Service Unavailable\r\n${lines.join('')}\r\n${body}`);
        return false;
      }
      // An upgraded socket stays busy for its life: a WebSocket never gives way to a newcomer.
      slots.busy(req.socket);
      return true;
    },
  };
}
