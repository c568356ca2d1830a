/**
 * In-process connections: a protocol session over a `Transport` the embedder supplies instead of an
 * accepted socket. Tests drive AMQP, MQTT and Kafka sessions through an in-memory pair
 * (testing/transport-pair.ts) with the broker's clock under their control, so protocol logic and its
 * timers are tested in milliseconds; an embedder can connect a pipe of its own. Each protocol's
 * acceptor is made on first use, with the same settings its listener would have, and closed with the
 * broker.
 */
import type { PortSetting } from '../config/schema.js';
import type { ListenerContext } from '../protocols/listener.js';
import type { Acceptor } from '../protocols/serve.js';
import type { Transport } from '../protocols/transport.js';

export type InProcessProtocol = 'amqp' | 'mqtt' | 'kafka';

/** Each protocol's modules are loaded by its first in-process connection, as a listener loads them. */
const acceptorOf: Record<
  InProcessProtocol,
  { key: PortSetting; make(context: ListenerContext): Promise<Acceptor> }
> = {
  amqp: {
    key: 'amqpPort',
    make: async (c) => (await import('../protocols/amqp/listener.js')).amqpAcceptor(c),
  },
  mqtt: {
    key: 'mqttPort',
    make: async (c) => (await import('../protocols/mqtt/listener.js')).mqttAcceptor(c, {}),
  },
  kafka: {
    key: 'kafkaPort',
    make: async (c) => (await import('../protocols/kafka/listener.js')).kafkaAcceptor(c),
  },
};

export class InProcessConnections {
  readonly #contextFor: (key: PortSetting) => ListenerContext;
  readonly #acceptors = new Map<InProcessProtocol, Promise<Acceptor>>();
  #closed = false;

  constructor(contextFor: (key: PortSetting) => ListenerContext) {
    this.#contextFor = contextFor;
  }

  /** Resolves once the session has the transport (bytes written to it meanwhile wait in the transport). */
  async accept(protocol: InProcessProtocol, transport: Transport): Promise<void> {
    let acceptor = this.#acceptors.get(protocol);
    if (acceptor === undefined && !this.#closed) {
      const { key, make } = acceptorOf[protocol];
      acceptor = make(this.#contextFor(key));
      this.#acceptors.set(protocol, acceptor);
    }
    const ready = await acceptor;
    if (this.#closed || ready === undefined) transport.destroy();
    else ready.accept(transport);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const acceptors = await Promise.all(this.#acceptors.values());
    await Promise.all(acceptors.map((a) => a.close()));
    this.#acceptors.clear();
  }
}
