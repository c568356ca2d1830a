/**
 * The MQTT listeners: TCP (default 1883) and WebSocket (default 8083, path `/mqtt`, subprotocol
 * `mqtt`, MQTT 5.0 §6). Both feed the same MqttServer, so clients of either see one broker.
 */
import { Buffer } from 'node:buffer';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { CoreBroker } from '../../core/api.js';
import { listenOn } from '../../shared/net.js';
import type { ListenerContext, ListenerDefinition, RunningListener } from '../listener.js';
import { MqttConnection } from './connection.js';
import { type MqttOptions, optionsWithSettings } from './limits.js';
import { MqttServer } from './server.js';
import { socketTransport, type Transport, webSocketTransport } from './transport.js';

export const webSocketPath = '/mqtt';
/** How often Node's HTTP server looks for sockets past their header or request timeout. */
const httpCheckMs = 1000;
/** WebSocket frame headers and control frames around an MQTT packet. */
const webSocketSlackBytes = 4096;

/** One MqttServer per core, shared by the TCP and WebSocket listeners of that core. */
const servers = new WeakMap<CoreBroker, { server: MqttServer; users: number }>();

function acquire(context: ListenerContext, options: MqttOptions): MqttServer {
  let entry = servers.get(context.core);
  if (entry === undefined) {
    const server = new MqttServer({
      core: context.core,
      logger: context.logger,
      auth: context.auth,
      ingress: context.ingress,
      version: context.version,
      startedAtMs: context.startedAtMs,
      options: optionsWithSettings(options, context.config),
    });
    entry = { server, users: 0 };
    servers.set(context.core, entry);
  }
  entry.users++;
  return entry.server;
}

function release(core: CoreBroker): void {
  const entry = servers.get(core);
  if (entry === undefined) return;
  entry.users--;
  if (entry.users > 0) return;
  entry.server.close();
  servers.delete(core);
}

function open(server: MqttServer, transport: Transport): MqttConnection {
  const connection = new MqttConnection(server, transport);
  server.track(connection);
  return connection;
}

/** Listens on the context's port; a failure releases the MqttServer taken for this listener. */
async function listen(
  netServer: Server | ReturnType<typeof createHttpServer>,
  context: ListenerContext,
): Promise<number> {
  try {
    return await listenOn(netServer, context.host, context.port);
  } catch (err) {
    release(context.core);
    throw err;
  }
}

async function startTcp(context: ListenerContext, options: MqttOptions): Promise<RunningListener> {
  const server = acquire(context, options);
  const sockets = new Set<Socket>();
  const netServer = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const connection = open(server, socketTransport(socket));
    socket.on('data', (chunk: Buffer) => connection.receive(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      sockets.delete(socket);
      connection.closed();
    });
  });
  const port = await listen(netServer, context);
  return {
    port,
    close: async () => {
      const closing = new Promise<void>((resolve) => netServer.close(() => resolve()));
      release(context.core);
      for (const socket of sockets) socket.destroy();
      await closing;
    },
  };
}

async function startWebSocket(context: ListenerContext, options: MqttOptions): Promise<RunningListener> {
  const server = acquire(context, options);
  // The upgrade request gets the handshake time, checked every second (Node checks every 30 s by default).
  const timeoutMs = context.config.handshakeTimeoutMs;
  const http = createHttpServer(
    { headersTimeout: timeoutMs, requestTimeout: timeoutMs, connectionsCheckingInterval: httpCheckMs },
    (_req, res) => res.writeHead(426).end('MQTT over WebSocket at /mqtt\n'),
  );
  const wss = new WebSocketServer({
    server: http,
    path: webSocketPath,
    maxPayload: server.limits.packetBytesMax + 8,
    handleProtocols: (protocols) =>
      protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false,
  });
  wss.on('connection', (ws, request: IncomingMessage) => {
    const connection = open(server, webSocketTransport(ws, request.socket.remoteAddress));
    const frames = countFrameBytes(request.socket, connection, server.limits.connectPacketBytesMax);
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      frames.handedOn();
      connection.receive(toBuffer(data));
    });
    ws.on('ping', () => frames.handedOn());
    ws.on('pong', () => frames.handedOn());
    ws.on('error', () => ws.terminate());
    ws.on('close', () => connection.closed());
  });
  const port = await listen(http, context);
  return {
    port,
    close: async () => {
      release(context.core);
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/**
 * The ws library holds a WebSocket message until it is whole (up to `maxPayload`); those bytes count
 * against the ingress budget from the moment they are read until the message is handed on. Before
 * the CONNACK a client may hold no more than a CONNECT may be, with room for WebSocket framing.
 */
function countFrameBytes(socket: Socket, connection: MqttConnection, connectBytesMax: number) {
  let held = 0;
  // Ahead of the ws library's own listener, which may hand a whole message on within this chunk.
  socket.prependListener('data', (chunk: Buffer) => {
    held += chunk.length;
    connection.account.add(chunk.length);
    if (!connection.account.authenticated && held > connectBytesMax + webSocketSlackBytes) socket.destroy();
  });
  return {
    handedOn(): void {
      connection.account.remove(held);
      held = 0;
    },
  };
}

function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** Listener definitions; `options` carries limits and access rules (tests and embedders). */
export function mqttListeners(options: MqttOptions = {}): ListenerDefinition[] {
  return [
    { name: 'mqtt', configKey: 'mqttPort', start: (context) => startTcp(context, options) },
    { name: 'mqtt-ws', configKey: 'mqttWsPort', start: (context) => startWebSocket(context, options) },
  ];
}

export const [mqttListener, mqttWebSocketListener] = mqttListeners() as [
  ListenerDefinition,
  ListenerDefinition,
];
