/**
 * The MQTT listeners: TCP (1883), TLS (8883), WebSocket (8083) and secure WebSocket (8084); both
 * WebSocket forms at path `/mqtt` with subprotocol `mqtt` (MQTT 5.0 §6). All four feed one MqttServer
 * per core, so clients of any see one broker (one set of client ids, sessions and wills).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { CoreBroker } from '../../core/api.js';
import { listenOn } from '../../shared/net.js';
import type { ListenerContext, ListenerDefinition, RunningListener } from '../listener.js';
import { PerCore } from '../per-core.js';
import {
  type Acceptor,
  type AddressCap,
  capPerAddress,
  httpServer,
  securityOf,
  serveTransports,
} from '../serve.js';
import { closeWithin, type Transport, webSocketServerOptions, webSocketTransport } from '../transport.js';
import { connectHeadBytesMax, connectLevel, quotaConnack } from './codec/refusal.js';
import { MqttConnection } from './connection.js';
import { type MqttOptions, optionsWithSettings } from './limits.js';
import { MqttServer } from './server.js';

export const webSocketPath = '/mqtt';
/** How often Node's HTTP server looks for sockets past their header or request timeout. */
const httpCheckMs = 1000;
/** How long connections told the server is going get to close before they are dropped. */
const shutdownGraceMs = 1000;

/** A socket past `webConnectionsPerAddressMax` is answered 503 in plain text. */
const tooManyFromAddress = {
  contentType: 'text/plain; charset=utf-8',
  body: (connectionsMax: number) =>
    `more than ${connectionsMax} connections from this address; retry later\n`,
};

const servers = new PerCore<MqttServer>((server) => server.close());

/**
 * A plain TCP socket over its address's cap (../address-gate.ts): once its CONNECT's head says which
 * protocol level it speaks, CONNACK Quota exceeded (5.0) or Server unavailable (3.1.1), then closed.
 * The client is told why instead of seeing a reset it would take for a network fault; the broker
 * reads at most `connectHeadBytesMax` bytes and builds nothing (the gate bounds how many wait).
 * What arrives after the CONNACK is read and dropped, so that closing does not reset it unread.
 */
function answerQuota(socket: Socket): void {
  let head: Buffer | undefined = Buffer.alloc(0);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    if (head === undefined) return;
    // Only what the head needs is copied: a large first read is not kept.
    head = Buffer.concat([head, chunk.subarray(0, connectHeadBytesMax - head.length)]);
    const level = connectLevel(head);
    if (level === undefined) return;
    head = undefined;
    if (level === null) socket.destroy();
    else socket.end(quotaConnack(level));
  });
}

function acquire(context: ListenerContext, options: MqttOptions): MqttServer {
  return servers.acquire(
    context.core,
    () =>
      new MqttServer({
        core: context.core,
        logger: context.logger,
        auth: context.auth,
        ingress: context.ingress,
        version: context.version,
        startedAtMs: context.startedAtMs,
        options: optionsWithSettings(options, context.config),
      }),
  );
}

/**
 * The protocol side of one MQTT listener: connections over any transport. `close` ends its own
 * connections (no wills: the broker is going) and lets go of the shared MqttServer.
 */
export function mqttAcceptor(
  context: ListenerContext,
  options: MqttOptions = {},
): Acceptor & { server: MqttServer } {
  const server = acquire(context, options);
  const core: CoreBroker = context.core;
  // Marks this listener's connections among the server's (which other listeners may share).
  const mark = {};
  return {
    server,
    accept(transport: Transport): void {
      const connection = new MqttConnection(server, transport, mark);
      server.track(connection);
    },
    refuse: answerQuota,
    async close(): Promise<void> {
      const open = server
        .handles()
        .filter((h): h is MqttConnection => h instanceof MqttConnection && h.listener === mark);
      for (const connection of open) connection.shutdown();
      await closeWithin(
        open.map((c) => c.transport),
        shutdownGraceMs,
      );
      servers.release(core);
    },
  };
}

async function startStream(context: ListenerContext, options: MqttOptions): Promise<RunningListener> {
  return serveTransports(context, mqttAcceptor(context, options));
}

async function startWebSocket(context: ListenerContext, options: MqttOptions): Promise<RunningListener> {
  // ws is loaded by the first WebSocket listener: a broker without one never loads its modules.
  const { WebSocketServer } = await import('ws');
  const acceptor = mqttAcceptor(context, options);
  // The upgrade request gets the handshake time, checked every second (Node checks every 30 s by default).
  const timeoutMs = context.config.handshakeTimeoutMs;
  const security = securityOf(context);
  let cap: AddressCap | undefined;
  const http = httpServer(
    security,
    { headersTimeout: timeoutMs, requestTimeout: timeoutMs, connectionsCheckingInterval: httpCheckMs },
    (req, res) => {
      if (cap?.request(req, res) !== false) res.writeHead(426).end('MQTT over WebSocket at /mqtt\n');
    },
  );
  cap = capPerAddress(http, security, context.config.webConnectionsPerAddressMax, tooManyFromAddress);
  const wss = new WebSocketServer({
    noServer: true,
    path: webSocketPath,
    maxPayload: acceptor.server.limits.packetBytesMax + 8,
    ...webSocketServerOptions,
    handleProtocols: (protocols) =>
      protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false,
  });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    // ws's own handling, once the address's cap has let the socket through (ws answers 400 off the path).
    if (cap.upgrade(req, socket)) {
      wss.handleUpgrade(req, socket, head, (ws) =>
        acceptor.accept(webSocketTransport(ws, req.socket as Socket)),
      );
    }
  });
  http.on('error', (err) => context.logger.error({ err }, 'listener error'));
  let port: number;
  try {
    port = await listenOn(http, context.host, context.port);
  } catch (err) {
    await acceptor.close();
    throw err;
  }
  return {
    port,
    close: async () => {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      await acceptor.close();
      wss.close();
      http.closeAllConnections();
      await closed;
    },
  };
}

/** Listener definitions; `options` carries limits and access rules (tests and embedders). */
export function mqttListeners(options: MqttOptions = {}): ListenerDefinition[] {
  const stream = (context: ListenerContext) => startStream(context, options);
  const webSocket = (context: ListenerContext) => startWebSocket(context, options);
  return [
    { name: 'mqtt', configKey: 'mqttPort', start: stream },
    { name: 'mqtts', configKey: 'mqttsPort', start: stream },
    { name: 'mqtt-ws', configKey: 'mqttWsPort', start: webSocket },
    { name: 'mqtt-wss', configKey: 'mqttWssPort', start: webSocket },
  ];
}

export const [mqttListener, mqttsListener, mqttWebSocketListener, mqttSecureWebSocketListener] =
  mqttListeners() as [ListenerDefinition, ListenerDefinition, ListenerDefinition, ListenerDefinition];
