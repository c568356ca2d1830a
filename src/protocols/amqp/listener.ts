/**
 * The AMQP 0-9-1 listeners, plain (5672) and TLS (5671): each transport becomes an `AmqpConnection`.
 * Both share one connection numbering and one direct reply-to registry per core, so a connection's
 * id `amqp-<n>` (and its owners `amqp-<n>/<channel>`, src/core/README.md) is unique across them and
 * an RPC may cross from one port to the other.
 */
import type { CoreBroker } from '../../core/api.js';
import type { ListenerContext, ListenerDefinition } from '../listener.js';
import { PerCore } from '../per-core.js';
import { type Acceptor, serveTransports } from '../serve.js';
import type { Transport } from '../transport.js';
import { AmqpConnection } from './connection.js';
import { ReplyToRegistry } from './reply-to.js';
import type { ListenerShared } from './session.js';

/** Connections one listener accepts at once; more are refused at accept. */
export const connectionsMax = 10_000;

interface CoreShared {
  readonly replyTo: ReplyToRegistry;
  nextId: number;
}

const perCore = new PerCore<CoreShared>();

/**
 * The protocol side of one AMQP listener: connections over any transport. `close` closes them all
 * and lets go of the shared state.
 */
export function amqpAcceptor(context: ListenerContext): Acceptor {
  const core: CoreBroker = context.core;
  const common = perCore.acquire(core, () => ({ replyTo: new ReplyToRegistry(), nextId: 1 }));
  const shared: ListenerShared = {
    core,
    auth: context.auth,
    logger: context.logger,
    version: context.version,
    replyTo: common.replyTo,
    messageBytesMax: context.config.messageBytesMax,
    ingress: context.ingress,
    handshakeTimeoutMs: context.config.handshakeTimeoutMs,
    mechanisms: context.config.amqpAuthMechanisms,
    certLogin: context.config,
  };
  const connections = new Set<AmqpConnection>();
  const unsubscribe = core.alarms.subscribe((active) => {
    for (const connection of connections) connection.onAlarms(active);
  });
  return {
    accept(transport: Transport): void {
      if (connections.size >= connectionsMax) {
        transport.destroy();
        return;
      }
      const id = `amqp-${common.nextId++}`;
      connections.add(new AmqpConnection(id, transport, shared, (c) => connections.delete(c)));
    },
    async close(): Promise<void> {
      unsubscribe();
      await Promise.all([...connections].map((c) => c.shutdown()));
      perCore.release(core);
    },
  };
}

function start(context: ListenerContext) {
  return serveTransports(context, amqpAcceptor(context), { loopbackTwin: true });
}

export const amqpListener: ListenerDefinition = { name: 'amqp', configKey: 'amqpPort', start };
export const amqpsListener: ListenerDefinition = { name: 'amqps', configKey: 'amqpsPort', start };
