/**
 * In-process connections: a protocol session over a `Transport` the embedder supplies instead of an
 * accepted socket. Tests drive AMQP, MQTT and Kafka sessions through an in-memory pair
 * (testing/transport-pair.ts) with the broker's clock under their control, so protocol logic and its
 * timers are tested in milliseconds; an embedder can connect a pipe of its own. Each protocol's
 * acceptor is made on first use, with the same settings its listener would have, and closed with the
 * broker.
 */
import type { PortSetting } from '../config/schema.js';
import { amqpAcceptor } from '../protocols/amqp/listener.js';
import { kafkaAcceptor } from '../protocols/kafka/listener.js';
import type { ListenerContext } from '../protocols/listener.js';
import { mqttAcceptor } from '../protocols/mqtt/listener.js';
import type { Acceptor } from '../protocols/serve.js';
import type { Transport } from '../protocols/transport.js';

export type InProcessProtocol = 'amqp' | 'mqtt' | 'kafka';

const acceptorOf: Record<InProcessProtocol, { key: PortSetting; make(context: ListenerContext): Acceptor }> =
  {
    amqp: { key: 'amqpPort', make: (context) => amqpAcceptor(context) },
    mqtt: { key: 'mqttPort', make: (context) => mqttAcceptor(context, {}) },
    kafka: { key: 'kafkaPort', make: (context) => kafkaAcceptor(context) },
  };

export class InProcessConnections {
  readonly #contextFor: (key: PortSetting) => ListenerContext;
  readonly #acceptors = new Map<InProcessProtocol, Acceptor>();
  #closed = false;

  constructor(contextFor: (key: PortSetting) => ListenerContext) {
    this.#contextFor = contextFor;
  }

  accept(protocol: InProcessProtocol, transport: Transport): void {
    if (this.#closed) {
      transport.destroy();
      return;
    }
    let acceptor = this.#acceptors.get(protocol);
    if (acceptor === undefined) {
      const { key, make } = acceptorOf[protocol];
      acceptor = make(this.#contextFor(key));
      this.#acceptors.set(protocol, acceptor);
    }
    acceptor.accept(transport);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#acceptors.values()].map((a) => a.close()));
    this.#acceptors.clear();
  }
}
