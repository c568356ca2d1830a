/**
 * Message counts per object and in total: the one place that counts what the dashboard and
 * `/metrics` show as rates (RabbitMQ's `message_stats`). Commands are counted as `execute` runs them;
 * deliveries to consumers, which no command triggers, are counted by the vhost through `delivered`.
 * Counters only ever grow; a reader samples them over time to get rates.
 */
import type { PublishResult } from '../types.js';
import type { Command, CommandResult } from './commands.js';
import type { CallerContext } from './context.js';

export interface MessageCounts {
  /** Messages published to an exchange, or routed into a queue. */
  published: number;
  /** Deliveries to consumers and `get`s. */
  delivered: number;
  /** Deliveries that were redeliveries. */
  redelivered: number;
  acked: number;
}

function zero(): MessageCounts {
  return { published: 0, delivered: 0, redelivered: 0, acked: 0 };
}

interface VhostMeters {
  readonly exchanges: Map<string, MessageCounts>;
  readonly queues: Map<string, MessageCounts>;
}

export class Meters {
  readonly total: MessageCounts = zero();
  readonly #vhosts = new Map<string, VhostMeters>();
  /** The protocol of each connection counted at `connection.open` (the same ones limits count). */
  readonly #connections = new Map<string, string>();

  /** Live connections per protocol that carried them, for /metrics. */
  connectionsPerProtocol(): Array<[protocol: string, count: number]> {
    const counts = new Map<string, number>();
    for (const protocol of this.#connections.values()) counts.set(protocol, (counts.get(protocol) ?? 0) + 1);
    return [...counts];
  }

  /** Counts what `command` did, once it ran without throwing. */
  record(context: CallerContext, command: Command, result: unknown): void {
    switch (command.kind) {
      case 'message.publish':
      case 'request.send':
        this.#published(context.vhost, command.exchange, result as CommandResult<'message.publish'>);
        return;
      case 'delivery.ack':
        this.#queue(context.vhost, command.queue).acked++;
        this.total.acked++;
        return;
      case 'connection.open':
        this.#connections.set(context.connectionId, context.protocol);
        return;
      case 'connection.close':
        this.#connections.delete(context.connectionId);
        return;
      case 'queue.get': {
        const delivery = result as CommandResult<'queue.get'>;
        if (delivery !== undefined) this.delivered(context.vhost, command.queue, delivery.redelivered);
        return;
      }
      default:
    }
  }

  delivered(vhost: string, queue: string, redelivered: boolean): void {
    const counts = this.#queue(vhost, queue);
    counts.delivered++;
    this.total.delivered++;
    if (redelivered) {
      counts.redelivered++;
      this.total.redelivered++;
    }
  }

  exchange(vhost: string, name: string): MessageCounts | undefined {
    return this.#vhosts.get(vhost)?.exchanges.get(name);
  }

  queue(vhost: string, name: string): MessageCounts | undefined {
    return this.#vhosts.get(vhost)?.queues.get(name);
  }

  /** The object is gone: a new one of the same name starts from zero. */
  forget(vhost: string, kind: 'exchange' | 'queue', name: string): void {
    const meters = this.#vhosts.get(vhost);
    (kind === 'exchange' ? meters?.exchanges : meters?.queues)?.delete(name);
  }

  forgetVhost(vhost: string): void {
    this.#vhosts.delete(vhost);
  }

  #published(vhost: string, exchange: string, result: PublishResult): void {
    this.total.published++;
    const meters = this.#meters(vhost);
    counts(meters.exchanges, exchange).published++;
    for (const queue of result.queues ?? []) counts(meters.queues, queue).published++;
  }

  #queue(vhost: string, name: string): MessageCounts {
    return counts(this.#meters(vhost).queues, name);
  }

  #meters(vhost: string): VhostMeters {
    let meters = this.#vhosts.get(vhost);
    if (meters === undefined) {
      meters = { exchanges: new Map(), queues: new Map() };
      this.#vhosts.set(vhost, meters);
    }
    return meters;
  }
}

function counts(map: Map<string, MessageCounts>, name: string): MessageCounts {
  let found = map.get(name);
  if (found === undefined) {
    found = zero();
    map.set(name, found);
  }
  return found;
}
