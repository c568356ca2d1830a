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
  /**
   * A plain TCP socket over its address's cap (./address-gate.ts), for a protocol that can say so in
   * a few bytes: it answers its refusal and closes. Not called under TLS (a handshake would cost more
   * than the refusal is worth) nor without it: then the socket is closed at accept. The gate destroys
   * the socket after `refusalWaitMs` whatever happens.
   */
  refuse?(socket: Socket): void;
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

/**
 * What binding a port takes from a listener's context (a test may give just this; without
 * `addressGate` no address is capped).
 */
export type ServeContext = Pick<ListenerContext, 'host' | 'port' | 'tls' | 'logger'> &
  Partial<Pick<ListenerContext, 'addressGate'>> & {
    readonly config: Pick<Config, 'handshakeTimeoutMs'>;
  };

export function securityOf(context: ServeContext): Security {
  return { tls: context.tls, handshakeTimeoutMs: context.config.handshakeTimeoutMs, logger: context.logger };
}

/** A TLS server, never bound: the sockets the address gate admits are handed to it. */
function tlsHandshaker(
  security: Security,
  tls: ListenerTls,
  onSocket: (transport: Transport) => void,
): TlsServer {
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

/** What a listener does with the TCP sockets its address gate lets in. */
export interface SocketTaker {
  /** An admitted socket. */
  take(socket: Socket): void;
  /** A socket over its address's cap that may be told so (`Acceptor.refuse`); absent: closed at accept. */
  readonly refuse?: (socket: Socket) => void;
  /** Read nothing until `take` sets the socket reading (`sharedReadsTransport`). */
  readonly pauseOnConnect?: boolean;
}

export interface BoundSockets {
  readonly port: number;
  /** Stops accepting; resolves once the servers are closed (open sockets are the taker's to close). */
  close(): Promise<void>;
}

/**
 * Binds the context's port with plain TCP servers (the port, and its loopback twin when asked) whose
 * every accepted socket goes through the context's address gate before `taker` sees it: the one
 * place where the TCP listeners count sockets, for plain and TLS alike (a TLS listener's taker hands
 * the socket to its handshake).
 */
export async function serveSockets(
  context: ServeContext,
  taker: SocketTaker,
  loopbackTwin = false,
): Promise<BoundSockets> {
  const gate = context.addressGate;
  // Refused sockets being told so: this server's close waits for every socket it accepted, so at
  // shutdown they are closed rather than left to their refusal's wait.
  const telling = new Set<Socket>();
  const onSocket = (socket: Socket) => {
    const admission = gate?.admit(socket, taker.refuse !== undefined) ?? 'admitted';
    if (admission === 'admitted') taker.take(socket);
    else if (admission === 'tell') tell(socket);
  };
  const tell = (socket: Socket) => {
    telling.add(socket);
    socket.once('close', () => telling.delete(socket));
    taker.refuse?.(socket);
  };
  const pauseOnConnect = taker.pauseOnConnect === true;
  const server = createNetServer({ pauseOnConnect }, onSocket);
  server.on('error', (err) => context.logger.error({ err }, 'listener error'));
  const port = await listenOn(server, context.host, context.port);
  gate?.listening();
  const servers = [server];
  const twin = loopbackTwin ? await loopbackTwinOf(onSocket, port, context.host, pauseOnConnect) : undefined;
  if (twin !== undefined) servers.push(twin);
  return {
    port,
    close: async () => {
      const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const socket of telling) socket.destroy();
      await Promise.all(closed);
    },
  };
}

/** Where the sockets of a framed protocol's listener go: a transport each, after TLS when it speaks TLS. */
function transportTaker(
  security: Security,
  acceptor: Acceptor,
  sharedReads: boolean,
): SocketTaker & { close(): void } {
  const { tls } = security;
  const accept = (transport: Transport) => acceptor.accept(transport);
  if (tls !== undefined) {
    const handshaker = tlsHandshaker(security, tls, accept);
    // Never bound: closing it only ends its certificate reloads.
    return { take: (socket) => handshaker.emit('connection', socket), close: () => handshaker.close() };
  }
  const refuse = acceptor.refuse?.bind(acceptor);
  return {
    take: (socket) => accept(sharedReads ? sharedReadsTransport(socket) : tcpTransport(socket)),
    // Paused until the handle has moved to a socket that reads where it is told.
    pauseOnConnect: sharedReads,
    ...(refuse === undefined ? {} : { refuse }),
    close: () => {},
  };
}

/** Binds the context's port and hands every connection to `acceptor`. */
export async function serveTransports(
  context: ServeContext,
  acceptor: Acceptor,
  options: ServeOptions = {},
): Promise<RunningListener> {
  const security = securityOf(context);
  const sharedReads = options.sharedReads === true && security.tls === undefined;
  const taker = transportTaker(security, acceptor, sharedReads);
  let bound: BoundSockets;
  try {
    bound = await serveSockets(context, taker, options.loopbackTwin === true);
  } catch (err) {
    taker.close();
    await acceptor.close();
    throw err;
  }
  return {
    port: bound.port,
    async close() {
      const closed = bound.close();
      taker.close();
      await acceptor.close();
      await closed;
    },
  };
}

async function loopbackTwinOf(
  onSocket: (socket: Socket) => void,
  port: number,
  host: string,
  pauseOnConnect: boolean,
): Promise<NetServer | undefined> {
  if (host !== '127.0.0.1' && host !== 'localhost') return undefined;
  const twin = createNetServer({ pauseOnConnect }, onSocket);
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
 * The socket a web listener counts for a request's socket. One rule for every listener, web or not:
 * sockets count from their TCP accept, so that a TLS handshake holds a slot too (a flood of
 * handshakes from one address is capped like any other). Under TLS requests arrive on the TLS socket
 * over each TCP one; this maps it back to the TCP socket under it, by the peer's address and port.
 */
export function countedSocketOf(server: HttpServer, security: Security): (socket: Socket) => Socket {
  if (security.tls === undefined) return (socket) => socket;
  const byPeer = new Map<string, Socket>();
  const under = new WeakMap<Socket, Socket>();
  const peerOf = (socket: Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
  server.on('connection', (socket: Socket) => {
    const peer = peerOf(socket);
    byPeer.set(peer, socket);
    socket.once('close', () => {
      if (byPeer.get(peer) === socket) byPeer.delete(peer);
    });
  });
  server.on('secureConnection', (tls: Socket) => {
    const tcp = byPeer.get(peerOf(tls));
    if (tcp !== undefined) under.set(tls, tcp);
  });
  return (socket) => under.get(socket) ?? socket;
}

/**
 * Caps the sockets one client address holds on `http` (the admin API's rule, ../shared/connection-slots.ts).
 * A socket past the cap is answered 503 with `Retry-After` at its first request, or closed after
 * `refusedWaitMs` without one: an HTTP or WebSocket client then reports "503 Service Unavailable"
 * rather than a connection reset it would take for a network fault. Sockets count from their TCP
 * accept, under TLS too (`countedSocketOf`).
 */
export function capPerAddress(
  http: HttpServer,
  security: Security,
  connectionsPerAddressMax: number,
  refusal: Refusal,
): AddressCap {
  const slots = new ConnectionSlots({ connectionsPerAddressMax });
  const refused = new WeakSet<Socket>();
  const counted = countedSocketOf(http, security);
  http.on('connection', (socket: Socket) => {
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
      const socket = counted(req.socket);
      if (refused.has(socket)) {
        const { head, body } = answer();
        res.writeHead(503, head).end(body);
        return false;
      }
      slots.busy(socket);
      res.once('finish', () => slots.idle(socket));
      return true;
    },
    upgrade(req, duplex) {
      const socket = counted(req.socket);
      if (refused.has(socket)) {
        const { head, body } = answer();
        const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}\r\n`);
        duplex.end(`HTTP/1.1 503 Service Unavailable\r\n${lines.join('')}\r\n${body}`);
        return false;
      }
      // An upgraded socket stays busy for its life: a WebSocket never gives way to a newcomer.
      slots.busy(socket);
      return true;
    },
  };
}
