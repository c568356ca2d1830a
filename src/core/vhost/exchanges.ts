/**
 * The exchanges of one vhost and the bindings they hold, and routing through them.
 *
 * Exchanges are routers (./routing/) keyed by name; the default exchange '' routes to the queue named
 * by the routing key. Inside the routers a destination is written `q:<queue>` or `e:<exchange>`.
 * Routing walks exchanges from the one published to, following exchange-to-exchange bindings and
 * alternate exchanges and visiting each exchange once, so every queue is reached at most once per
 * publish whatever cycles the bindings make.
 *
 * A binding is stored in the definitions when both its ends are durable (a queue counts as durable
 * when it is stored: durable and not exclusive), as RabbitMQ keeps only those across restarts.
 */
import { assert } from '../../shared/assert.js';
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { CoreLimits } from '../api.js';
import type { Definitions, StoredBinding, VhostDefinitions } from '../definitions.js';
import type { VirtualHost } from '../internal.js';
import { type Binding, createRouter, type Router } from '../routing/index.js';
import type { ExchangeOptions, HeaderList, Headers } from '../types.js';
import { checkExchangeEquivalent, checkName, normaliseExchange, refuseReserved } from './checks.js';

export interface ExchangeState {
  readonly name: string;
  readonly options: Required<ExchangeOptions>;
  readonly router: Router;
}

export interface ExchangesDeps {
  readonly vhost: string;
  readonly limits: CoreLimits;
  readonly definitions: Definitions;
  hasQueue(name: string): boolean;
  /** The queue is kept in definitions (durable, not exclusive). */
  isStoredQueue(name: string): boolean;
  /** An alternate exchange set by policy, asked when the exchange has no `alternate-exchange` argument. */
  policyAlternate?(exchange: string): string | undefined;
}

type BindingRow = ReturnType<VirtualHost['listBindings']>[number];

const predeclared: ReadonlyArray<[string, ExchangeOptions['type']]> = [
  ['amq.direct', 'direct'],
  ['amq.fanout', 'fanout'],
  ['amq.topic', 'topic'],
  ['amq.headers', 'headers'],
  ['amq.match', 'headers'],
];

/** Destination names remembered by `#queueName` before that cache starts afresh. */
const queueNamesMax = 100_000;

const toQueue = (name: string): string => `q:${name}`;
const toExchange = (name: string): string => `e:${name}`;

/** The default exchange: every queue is bound to it by its own name, and nothing else can be. */
class DefaultRouter implements Router {
  readonly type = 'direct';
  readonly size = 0;
  readonly #hasQueue: (name: string) => boolean;

  constructor(hasQueue: (name: string) => boolean) {
    this.#hasQueue = hasQueue;
  }

  add(): boolean {
    return assert(false, 'the default exchange takes no bindings') as never;
  }

  remove(): boolean {
    return false;
  }

  route(routingKey: string, _headers: HeaderList | undefined, into: Set<string>): void {
    if (this.#hasQueue(routingKey)) into.add(toQueue(routingKey));
  }

  bindings(): Binding[] {
    return [];
  }

  hasDestination(): boolean {
    return false;
  }

  removeDestination(): Binding[] {
    return [];
  }
}

const noQueues: readonly string[] = [];

export class Exchanges {
  readonly #deps: ExchangesDeps;
  readonly #vhost: string;
  readonly #exchanges = new Map<string, ExchangeState>();
  #bindingCount = 0;
  /** `q:<queue>` → `<queue>` for destinations routed to (`#queueName`). */
  readonly #queueNames = new Map<string, string>();
  /** `<queue>` → `[<queue>]`, the answer of a publish that reaches that queue alone (`#oneQueue`). */
  readonly #oneQueueLists = new Map<string, readonly string[]>();
  /** The first exchange's destinations, filled and emptied within one `route`. */
  readonly #direct = new Set<string>();

  constructor(deps: ExchangesDeps) {
    this.#deps = deps;
    this.#vhost = deps.vhost;
    const defaultOptions = {
      type: 'direct',
      durable: true,
      autoDelete: false,
      internal: false,
      arguments: {},
    } as const;
    const router = new DefaultRouter((queue) => deps.hasQueue(queue));
    this.#exchanges.set('', { name: '', options: defaultOptions, router });
    for (const [name, type] of predeclared) this.#add(name, normaliseExchange({ type, durable: true }));
  }

  /** Exchanges (not counting the default one). */
  get size(): number {
    return this.#exchanges.size - 1;
  }

  /** Puts back stored exchanges and bindings; queues need not exist yet. */
  restore(defs: VhostDefinitions): void {
    for (const [name, options] of defs.exchanges) {
      if (!this.#exchanges.has(name)) this.#add(name, normaliseExchange(options));
    }
    for (const stored of defs.bindings.values()) {
      const source = this.#exchanges.get(stored.source);
      if (source === undefined || stored.source === '') continue;
      const isQueue = stored.destinationKind === 'queue';
      const destination = isQueue ? toQueue(stored.destination) : toExchange(stored.destination);
      if (source.router.add({ destination, routingKey: stored.routingKey, args: stored.args }))
        this.#bindingCount++;
    }
  }

  declare(name: string, options: ExchangeOptions): void {
    this.#refuseDefault(name, 'declare');
    checkName('exchange', name);
    const wanted = normaliseExchange(options);
    const existing = this.#exchanges.get(name);
    if (existing !== undefined) {
      checkExchangeEquivalent(this.#vhost, name, existing.options, wanted);
      return;
    }
    refuseReserved('exchange', name, this.#vhost);
    const { exchangesMax } = this.#deps.limits;
    if (this.size >= exchangesMax) {
      throw brokerError(ErrorCode.resourceExhausted, `Vhost '${this.#vhost}' has ${exchangesMax} exchanges`);
    }
    this.#add(name, wanted);
    if (wanted.durable) this.#deps.definitions.putExchange(this.#vhost, name, wanted);
  }

  get(name: string): ExchangeState {
    const exchange = this.#exchanges.get(name);
    if (exchange === undefined) {
      throw brokerError(ErrorCode.notFound, `No exchange '${name}' in vhost '${this.#vhost}'`);
    }
    return exchange;
  }

  find(name: string): ExchangeState | undefined {
    return this.#exchanges.get(name);
  }

  delete(name: string, ifUnused: boolean): void {
    this.#refuseDefault(name, 'delete');
    refuseReserved('exchange', name, this.#vhost);
    const exchange = this.#exchanges.get(name);
    if (exchange === undefined) return;
    if (ifUnused && exchange.router.size > 0) {
      throw brokerError(
        ErrorCode.preconditionFailed,
        `Exchange '${name}' in vhost '${this.#vhost}' is in use`,
      );
    }
    this.#remove(exchange);
  }

  bindExchange(destination: string, source: string, routingKey: string, args: Headers): void {
    this.#refuseDefault(source, 'bind to');
    this.#refuseDefault(destination, 'bind');
    const from = this.get(source);
    const to = this.get(destination);
    this.#addBinding(from, { destination: toExchange(destination), routingKey, args }, to.options.durable);
  }

  unbindExchange(destination: string, source: string, routingKey: string, args: Headers): void {
    this.#refuseDefault(source, 'unbind from');
    this.#refuseDefault(destination, 'unbind');
    const from = this.#exchanges.get(source);
    const durable = this.#exchanges.get(destination)?.options.durable ?? false;
    if (from !== undefined)
      this.#removeBinding(from, { destination: toExchange(destination), routingKey, args }, durable);
  }

  /** The caller has checked that the queue exists. */
  bindQueue(queue: string, exchange: string, routingKey: string, args: Headers): void {
    this.#refuseDefault(exchange, 'bind to');
    const source = this.get(exchange);
    this.#addBinding(
      source,
      { destination: toQueue(queue), routingKey, args },
      this.#deps.isStoredQueue(queue),
    );
  }

  unbindQueue(queue: string, exchange: string, routingKey: string, args: Headers): void {
    this.#refuseDefault(exchange, 'unbind from');
    const source = this.#exchanges.get(exchange);
    const durable = this.#deps.isStoredQueue(queue);
    if (source !== undefined)
      this.#removeBinding(source, { destination: toQueue(queue), routingKey, args }, durable);
  }

  /** A queue is going away: drop every binding to it (which may auto-delete exchanges). */
  queueRemoved(queue: string, stored: boolean): void {
    this.#unbindDestination(toQueue(queue), stored);
  }

  /** Queue names the message reaches; each exchange is visited once, so cycles end. */
  /**
   * The queues a message published to `start` reaches, each once. An array, not a set: most publishes
   * reach one queue, and a set per publish was 6–8 % of what a routed message allocated.
   */
  route(start: ExchangeState, routingKey: string, headers: HeaderList | undefined): readonly string[] {
    // The default exchange names its one queue by the routing key.
    if (start.name === '' && this.#deps.hasQueue(routingKey)) return [routingKey];
    // The usual case: the exchange's bindings lead to queues only, and none needs an alternate.
    // One set serves every publish (routing is synchronous and never re-entered), emptied each time.
    const direct = this.#direct;
    direct.clear();
    start.router.route(routingKey, headers, direct);
    const reached = direct.size === 0 ? undefined : this.#queuesOnly(direct);
    direct.clear();
    if (reached !== undefined) return reached;
    return this.#routeFollowing(start, routingKey, headers);
  }

  /**
   * The queues `direct` names when it names queues only, else undefined. Distinct destinations are
   * distinct queues, so no set keeps each once; one queue reached (an MQTT session's, a work queue's)
   * is answered with that queue's own one-element list, made once, not a list per publish.
   */
  #queuesOnly(direct: Set<string>): readonly string[] | undefined {
    let reached: string[] | undefined;
    let only: string | undefined;
    for (const destination of direct) {
      if (!destination.startsWith('q:')) return undefined;
      const name = this.#queueName(destination);
      if (!this.#deps.hasQueue(name)) continue;
      if (only === undefined && reached === undefined) only = name;
      else {
        reached ??= [only!];
        reached.push(name);
      }
    }
    if (reached !== undefined) return reached;
    return only === undefined ? noQueues : this.#oneQueue(only);
  }

  #oneQueue(name: string): readonly string[] {
    let list = this.#oneQueueLists.get(name);
    if (list === undefined) {
      list = [name];
      if (this.#oneQueueLists.size >= queueNamesMax) this.#oneQueueLists.clear();
      this.#oneQueueLists.set(name, list);
    }
    return list;
  }

  /** Routing through exchange-to-exchange bindings and alternate exchanges, each exchange once. */
  #routeFollowing(
    start: ExchangeState,
    routingKey: string,
    headers: HeaderList | undefined,
  ): readonly string[] {
    const queues = new Set<string>();
    const seen = new Set<string>([start.name]);
    const work = [start];
    const found = new Set<string>();
    while (work.length > 0) {
      const exchange = work.pop()!;
      found.clear();
      exchange.router.route(routingKey, headers, found);
      if (found.size === 0) {
        const alternate =
          exchange.options.arguments['alternate-exchange'] ?? this.#deps.policyAlternate?.(exchange.name);
        if (typeof alternate === 'string') this.#follow(alternate, seen, work);
        continue;
      }
      for (const destination of found) {
        const name = destination.slice(2);
        if (destination.startsWith('e:')) this.#follow(name, seen, work);
        else if (this.#deps.hasQueue(name)) queues.add(name);
      }
    }
    return [...queues];
  }

  list(): Array<{ name: string } & ExchangeOptions> {
    return [...this.#exchanges.values()].map((exchange) => ({ name: exchange.name, ...exchange.options }));
  }

  bindings(): BindingRow[] {
    const out: BindingRow[] = [];
    for (const exchange of this.#exchanges.values()) {
      for (const binding of exchange.router.bindings()) out.push(this.#stored(exchange, binding));
    }
    return out;
  }

  /** The queue a `q:` destination names; kept per destination, so routing slices no strings. */
  #queueName(destination: string): string {
    let name = this.#queueNames.get(destination);
    if (name === undefined) {
      name = destination.slice(2);
      if (this.#queueNames.size >= queueNamesMax) this.#queueNames.clear();
      this.#queueNames.set(destination, name);
    }
    return name;
  }

  #follow(name: string, seen: Set<string>, work: ExchangeState[]): void {
    if (seen.has(name)) return;
    const exchange = this.#exchanges.get(name);
    if (exchange === undefined) return;
    seen.add(name);
    work.push(exchange);
  }

  #add(name: string, options: Required<ExchangeOptions>): void {
    this.#exchanges.set(name, { name, options, router: createRouter(options.type) });
  }

  #remove(exchange: ExchangeState): void {
    this.#exchanges.delete(exchange.name);
    for (const binding of exchange.router.bindings()) {
      this.#forgetBinding(exchange, binding, this.#isDurableDestination(binding.destination));
    }
    this.#bindingCount -= exchange.router.size;
    this.#unbindDestination(toExchange(exchange.name), exchange.options.durable);
    if (exchange.options.durable) this.#deps.definitions.deleteExchange(this.#vhost, exchange.name);
  }

  #refuseDefault(name: string, action: string): void {
    if (name === '') {
      throw brokerError(
        ErrorCode.accessRefused,
        `Cannot ${action} the default exchange in vhost '${this.#vhost}'`,
      );
    }
  }

  #addBinding(exchange: ExchangeState, binding: Binding, destinationDurable: boolean): void {
    const { bindingsMax } = this.#deps.limits;
    if (this.#bindingCount >= bindingsMax) {
      throw brokerError(ErrorCode.resourceExhausted, `Vhost '${this.#vhost}' has ${bindingsMax} bindings`);
    }
    if (!exchange.router.add(binding)) return;
    this.#bindingCount++;
    if (exchange.options.durable && destinationDurable) {
      this.#deps.definitions.putBinding(this.#vhost, this.#stored(exchange, binding));
    }
  }

  #removeBinding(exchange: ExchangeState, binding: Binding, destinationDurable: boolean): void {
    if (!exchange.router.remove(binding)) return;
    this.#bindingCount--;
    this.#forgetBinding(exchange, binding, destinationDurable);
    this.#autoDelete(exchange);
  }

  #unbindDestination(destination: string, destinationDurable: boolean): void {
    for (const exchange of [...this.#exchanges.values()]) {
      if (!exchange.router.hasDestination(destination)) continue;
      const removed = exchange.router.removeDestination(destination);
      this.#bindingCount -= removed.length;
      for (const binding of removed) this.#forgetBinding(exchange, binding, destinationDurable);
      this.#autoDelete(exchange);
    }
  }

  #forgetBinding(exchange: ExchangeState, binding: Binding, destinationDurable: boolean): void {
    if (exchange.options.durable && destinationDurable) {
      this.#deps.definitions.deleteBinding(this.#vhost, this.#stored(exchange, binding));
    }
  }

  /** Auto-delete exchanges go when their last binding as source goes (RabbitMQ semantics). */
  #autoDelete(exchange: ExchangeState): void {
    if (!exchange.options.autoDelete || exchange.router.size > 0) return;
    if (this.#exchanges.get(exchange.name) === exchange) this.#remove(exchange);
  }

  #isDurableDestination(destination: string): boolean {
    const name = destination.slice(2);
    if (destination.startsWith('q:')) return this.#deps.isStoredQueue(name);
    return this.#exchanges.get(name)?.options.durable ?? false;
  }

  #stored(exchange: ExchangeState, binding: Binding): StoredBinding {
    return {
      source: exchange.name,
      destination: binding.destination.slice(2),
      destinationKind: binding.destination.startsWith('q:') ? 'queue' : 'exchange',
      routingKey: binding.routingKey,
      args: binding.args,
    };
  }
}
