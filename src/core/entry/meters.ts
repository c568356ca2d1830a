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
  /** Of `delivered`, those that were `get`s (RabbitMQ's `get`; `deliver` is the rest). */
  got: number;
}

export function zeroCounts(): MessageCounts {
  return { published: 0, delivered: 0, redelivered: 0, acked: 0, got: 0 };
}

const zero = zeroCounts;

interface VhostMeters {
  /** The vhost's own totals. */
  readonly total: MessageCounts;
  readonly exchanges: Map<string, MessageCounts>;
  readonly queues: Map<string, MessageCounts>;
}

/** What the sampler reads: each counted object by kind and name. */
export type MeteredKind = 'queue' | 'exchange' | 'vhost' | 'connection';

export class Meters {
  readonly total: MessageCounts = zero();
  readonly #vhosts = new Map<string, VhostMeters>();
  /** Per connection: what its own commands did (publishes, gets, acks); forgotten when it closes. */
  readonly #connections = new Map<string, MessageCounts>();
  /** The protocol of each connection counted at `connection.open` (the same ones limits count). */
  readonly #protocols = new Map<string, string>();

  /** Live connections per protocol that carried them, for /metrics. */
  connectionsPerProtocol(): Array<[protocol: string, count: number]> {
    const counts = new Map<string, number>();
    for (const protocol of this.#protocols.values()) counts.set(protocol, (counts.get(protocol) ?? 0) + 1);
    return [...counts];
  }

  /** Counts what `command` did, once it ran without throwing. */
  record(context: CallerContext, command: Command, result: unknown): void {
    switch (command.kind) {
      case 'message.publish':
      case 'request.send':
        this.#published(context.vhost, command.exchange, result as CommandResult<'message.publish'>);
        counts(this.#connections, context.connectionId).published++;
        return;
      case 'delivery.ack': {
        this.#queue(context.vhost, command.queue).acked++;
        this.#meters(context.vhost).total.acked++;
        this.total.acked++;
        counts(this.#connections, context.connectionId).acked++;
        return;
      }
      case 'connection.open':
        this.#protocols.set(context.connectionId, context.protocol);
        return;
      case 'queue.get': {
        const delivery = result as CommandResult<'queue.get'>;
        if (delivery === undefined) return;
        this.delivered(context.vhost, command.queue, delivery.redelivered);
        this.#queue(context.vhost, command.queue).got++;
        this.#meters(context.vhost).total.got++;
        this.total.got++;
        const connection = counts(this.#connections, context.connectionId);
        connection.delivered++;
        connection.got++;
        return;
      }
      case 'connection.close':
        this.#connections.delete(context.connectionId);
        this.#protocols.delete(context.connectionId);
        return;
      default:
    }
  }

  delivered(vhost: string, queue: string, redelivered: boolean): void {
    const meters = this.#meters(vhost);
    const counts = queueCounts(meters, queue);
    counts.delivered++;
    meters.total.delivered++;
    this.total.delivered++;
    if (redelivered) {
      counts.redelivered++;
      meters.total.redelivered++;
      this.total.redelivered++;
    }
  }

  /** Every counter there is, the totals' included, without a list of them (the sampler's walk). */
  forEachCounter(visit: (counts: MessageCounts) => void): void {
    visit(this.total);
    for (const meters of this.#vhosts.values()) {
      visit(meters.total);
      for (const counts of meters.exchanges.values()) visit(counts);
      for (const counts of meters.queues.values()) visit(counts);
    }
    for (const counts of this.#connections.values()) visit(counts);
  }

  /** Every counted object of `kind` (in `vhost`, but for connections), for the sampler and listings. */
  each(kind: MeteredKind, vhost?: string): Iterable<[string, MessageCounts]> {
    if (kind === 'connection') return this.#connections;
    if (kind === 'vhost') {
      const rows: Array<[string, MessageCounts]> = [];
      for (const [name, meters] of this.#vhosts)
        if (vhost === undefined || vhost === name) rows.push([name, meters.total]);
      return rows;
    }
    const meters = vhost === undefined ? undefined : this.#vhosts.get(vhost);
    if (meters !== undefined) return kind === 'queue' ? meters.queues : meters.exchanges;
    if (vhost !== undefined) return [];
    return [...this.#vhosts.values()].flatMap((m) => [...(kind === 'queue' ? m.queues : m.exchanges)]);
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
    meters.total.published++;
    counts(meters.exchanges, exchange).published++;
    for (const queue of result.queues ?? []) counts(meters.queues, queue).published++;
  }

  #queue(vhost: string, name: string): MessageCounts {
    return queueCounts(this.#meters(vhost), name);
  }

  #meters(vhost: string): VhostMeters {
    let meters = this.#vhosts.get(vhost);
    if (meters === undefined) {
      meters = { total: zero(), exchanges: new Map(), queues: new Map() };
      this.#vhosts.set(vhost, meters);
    }
    return meters;
  }
}

function queueCounts(meters: VhostMeters, name: string): MessageCounts {
  return counts(meters.queues, name);
}

function counts(map: Map<string, MessageCounts>, name: string): MessageCounts {
  let found = map.get(name);
  if (found === undefined) {
    found = zero();
    map.set(name, found);
  }
  return found;
}
