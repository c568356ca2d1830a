/**
 * Message counts per object and in total: the one place that counts what the dashboard and
 * `/metrics` show as rates (RabbitMQ's `message_stats`). Commands are counted as `execute` runs them;
 * deliveries to consumers, which no command triggers, are counted by the vhost through `delivered`.
 * Counters only ever grow; a reader samples them over time to get rates.
 */
import type { Delivery, PublishResult } from '../types.js';
import type { MessageCounts, MeteredKind } from '../views.js';
import type { Command, CommandResult } from './commands.js';
import type { CallerContext } from './context.js';

export function zeroCounts(): MessageCounts {
  return { published: 0, delivered: 0, redelivered: 0, acked: 0, got: 0, confirmed: 0 };
}

const zero = zeroCounts;

interface VhostMeters {
  /** The vhost's own totals. */
  readonly total: MessageCounts;
  readonly exchanges: Map<string, MessageCounts>;
  readonly queues: Map<string, MessageCounts>;
}

/** What a connection that never counted anything reads as (frozen: nothing counts into it). */
export const noCounts: MessageCounts = Object.freeze(zero());

/**
 * A connection's counts, made at its first count (an idle connection, most of a large MQTT fleet,
 * has none: the connections per protocol are counted with the limits, `ConnectionCounts`), and per
 * channel (`<connectionId>/<number>`) what it confirmed.
 */
interface ConnectionMeters {
  readonly counts: MessageCounts;
  channels?: Map<number, MessageCounts>;
}

/**
 * What one caller's commands count into, looked up once and kept for its next commands: the counters
 * of its vhost and connection and of the exchange and queue it last used. A publish then costs no map
 * lookup when it goes where the caller's previous one went (four lookups per publish were 5 % of an
 * in-process publish: docs/performance.md, "Rate sampling against publishing").
 */
interface Route {
  /** `Meters.#generation` when resolved: any counter forgotten since makes every route stale. */
  readonly generation: number;
  readonly vhost: VhostMeters;
  readonly connection: ConnectionMeters;
  exchange: string | undefined;
  exchangeCounts: MessageCounts | undefined;
  queue: string | undefined;
  queueCounts: MessageCounts | undefined;
}

export class Meters {
  readonly total: MessageCounts = zero();
  readonly #vhosts = new Map<string, VhostMeters>();
  /** Per connection: what its own commands did (publishes, gets, acks); forgotten when it closes. */
  readonly #connections = new Map<string, ConnectionMeters>();
  /** Each caller's route, by its context (a client keeps one context for its life). */
  readonly #routes = new WeakMap<CallerContext, Route>();
  /** The last caller's route: a run of commands from one caller skips even the WeakMap. */
  #lastContext: CallerContext | undefined;
  #lastRoute: Route | undefined;
  /** Moves on whenever a counter object is forgotten (an object, a vhost or a connection went). */
  #generation = 0;

  /** Counts what `command` did, once it ran without throwing. */
  record(context: CallerContext, command: Command, result: unknown): void {
    switch (command.kind) {
      case 'message.publish':
      case 'request.send':
        this.#published(this.#route(context), command.exchange, result as CommandResult<'message.publish'>);
        return;
      case 'delivery.ack': {
        const route = this.#route(context);
        this.#routeQueue(route, command.queue).acked++;
        route.vhost.total.acked++;
        this.total.acked++;
        route.connection.counts.acked++;
        return;
      }
      case 'meters.confirm':
        this.total.confirmed += command.count;
        this.#meters(context.vhost).total.confirmed += command.count;
        this.#connection(context.connectionId).counts.confirmed += command.count;
        if (command.channel !== undefined)
          this.#channel(context.connectionId, command.channel).confirmed += command.count;
        return;
      case 'queue.get': {
        const delivery = result as CommandResult<'queue.get'>;
        if (delivery !== undefined) this.#got(context, command.queue, delivery);
        return;
      }
      case 'queue.take':
        for (const delivery of result as CommandResult<'queue.take'>)
          this.#got(context, command.queue, delivery);
        return;
      case 'connection.close':
        if (this.#connections.delete(context.connectionId)) this.#generation++;
        return;
      default:
    }
  }

  /** A message taken on request (a get), counted delivered and got. */
  #got(context: CallerContext, queue: string, delivery: Delivery): void {
    this.delivered(context.vhost, queue, delivery.redelivered);
    this.#queue(context.vhost, queue).got++;
    this.#meters(context.vhost).total.got++;
    this.total.got++;
    const connection = this.#connection(context.connectionId).counts;
    connection.delivered++;
    connection.got++;
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

  /**
   * Every counter there is, the totals' included, without a list of them (the sampler's walk).
   * `atZeroBefore`: the counter stood for zero before it was made (a connection's, made at its first
   * count), so a sampler that has not seen it yet may take it as sampled at zero last time.
   */
  forEachCounter(visit: (counts: MessageCounts, atZeroBefore?: boolean) => void): void {
    visit(this.total);
    for (const meters of this.#vhosts.values()) {
      visit(meters.total);
      for (const counts of meters.exchanges.values()) visit(counts);
      for (const counts of meters.queues.values()) visit(counts);
    }
    for (const { counts, channels } of this.#connections.values()) {
      visit(counts, true);
      for (const channel of channels?.values() ?? []) visit(channel);
    }
  }

  /** Every counted object of `kind` (in `vhost`, but for connections), for the sampler and listings. */
  each(kind: MeteredKind, vhost?: string): Iterable<[string, MessageCounts]> {
    if (kind === 'connection') return connectionCounts(this.#connections);
    if (kind === 'channel') return this.#eachChannel();
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

  *#eachChannel(): Iterable<[string, MessageCounts]> {
    for (const [connectionId, { channels }] of this.#connections)
      for (const [number, counts] of channels ?? []) yield [`${connectionId}/${number}`, counts];
  }

  #channel(connectionId: string, number: number): MessageCounts {
    const connection = this.#connection(connectionId);
    connection.channels ??= new Map();
    return counts(connection.channels, number);
  }

  #connection(id: string): ConnectionMeters {
    let found = this.#connections.get(id);
    if (found === undefined) {
      found = { counts: zero() };
      this.#connections.set(id, found);
    }
    return found;
  }

  /** A connection's counts; undefined until it counted something. */
  connection(connectionId: string): MessageCounts | undefined {
    return this.#connections.get(connectionId)?.counts;
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
    if ((kind === 'exchange' ? meters?.exchanges : meters?.queues)?.delete(name)) this.#generation++;
  }

  forgetVhost(vhost: string): void {
    if (this.#vhosts.delete(vhost)) this.#generation++;
  }

  #published(route: Route, exchange: string, result: PublishResult): void {
    this.total.published++;
    route.vhost.total.published++;
    route.connection.counts.published++;
    if (route.exchange !== exchange || route.exchangeCounts === undefined) {
      route.exchangeCounts = counts(route.vhost.exchanges, exchange);
      route.exchange = exchange;
    }
    route.exchangeCounts.published++;
    const queues = result.queues;
    if (queues !== undefined) for (const queue of queues) this.#routeQueue(route, queue).published++;
  }

  /** The counters of `queue` in the route's vhost, kept in the route for its next command. */
  #routeQueue(route: Route, queue: string): MessageCounts {
    if (route.queue === queue && route.queueCounts !== undefined) return route.queueCounts;
    const found = queueCounts(route.vhost, queue);
    route.queue = queue;
    route.queueCounts = found;
    return found;
  }

  /** The caller's route, resolved again when a counter was forgotten since it was made. */
  #route(context: CallerContext): Route {
    const generation = this.#generation;
    let route = context === this.#lastContext ? this.#lastRoute : this.#routes.get(context);
    if (route === undefined || route.generation !== generation) {
      route = {
        generation,
        vhost: this.#meters(context.vhost),
        connection: this.#connection(context.connectionId),
        exchange: undefined,
        exchangeCounts: undefined,
        queue: undefined,
        queueCounts: undefined,
      };
      this.#routes.set(context, route);
    }
    this.#lastContext = context;
    this.#lastRoute = route;
    return route;
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

function counts<K>(map: Map<K, MessageCounts>, name: K): MessageCounts {
  let found = map.get(name);
  if (found === undefined) {
    found = zero();
    map.set(name, found);
  }
  return found;
}

function* connectionCounts(connections: Map<string, ConnectionMeters>): Iterable<[string, MessageCounts]> {
  for (const [id, { counts }] of connections) yield [id, counts];
}
