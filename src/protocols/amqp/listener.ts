/**
 * The AMQP 0-9-1 listener: a TCP server whose sockets become `AmqpConnection`s. Connection ids are
 * `amqp-<n>`, so owners are `amqp-<n>/<channel>` (src/core/README.md).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { listenOn } from '../../shared/net.js';
import type { ListenerContext, ListenerDefinition, RunningListener } from '../listener.js';
import { AmqpConnection } from './connection.js';
import { ReplyToRegistry } from './reply-to.js';
import type { ListenerShared } from './session.js';

/** Connections one listener accepts at once; more are refused at accept. */
export const connectionsMax = 10_000;

function startAmqpServer(context: ListenerContext): Promise<RunningListener> {
  const shared: ListenerShared = {
    core: context.core,
    auth: context.auth,
    logger: context.logger,
    version: context.version,
    replyTo: new ReplyToRegistry(),
    messageBytesMax: context.config.messageBytesMax,
    ingress: context.ingress,
    handshakeTimeoutMs: context.config.handshakeTimeoutMs,
  };
  const connections = new Set<AmqpConnection>();
  let nextId = 1;
  const server = createServer((socket: Socket) => {
    if (connections.size >= connectionsMax) {
      socket.destroy();
      return;
    }
    const id = `amqp-${nextId++}`;
    connections.add(new AmqpConnection(id, socket, shared, (c) => connections.delete(c)));
  });
  const servers = [server];
  server.on('error', (err) => context.logger.error({ err }, 'amqp listener error'));
  return listenOn(server, context.host, context.port).then(async (port) => {
    const twin = await loopbackTwin(server, port, context.host);
    if (twin !== undefined) servers.push(twin);
    const unsubscribe = context.core.alarms.subscribe((active) => {
      for (const connection of connections) connection.onAlarms(active);
    });
    return {
      port,
      async close() {
        unsubscribe();
        const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
        await Promise.all([...connections].map((c) => c.shutdown()));
        await Promise.all(closed);
      },
    };
  });
}

/**
 * Bound to IPv4 loopback, also take the same port on `::1`, best effort: clients resolve `localhost`
 * to either (RabbitMQ's default listens on both). A failure (no IPv6) is ignored.
 */
async function loopbackTwin(server: Server, port: number, host: string): Promise<Server | undefined> {
  if (host !== '127.0.0.1' && host !== 'localhost') return undefined;
  const twin = createServer();
  twin.on('connection', (socket: Socket) => server.emit('connection', socket));
  try {
    await listenOn(twin, '::1', port);
    return twin;
  } catch {
    return undefined;
  }
}

export const amqpListener: ListenerDefinition = {
  name: 'amqp',
  configKey: 'amqpPort',
  start: startAmqpServer,
};
