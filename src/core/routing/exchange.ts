/**
 * The four exchange kinds as pure routing tables. A router holds bindings (destination, routing key,
 * arguments) and answers which destinations a message reaches. Destinations are opaque strings to
 * the router; the vhost uses them to tell queues from exchanges. No I/O, no clock.
 */
import { unreachable } from '../../shared/assert.js';
import type { ExchangeType, HeaderList, Headers } from '../types.js';
import {
  canonicalHeaders,
  compileHeadersRule,
  type HeadersRule,
  headersRuleMatchesIndex,
  indexHeaders,
} from './headers.js';
import { TopicMatcher } from './topic.js';

export interface Binding {
  readonly destination: string;
  readonly routingKey: string;
  readonly args: Headers;
}

export interface Router {
  readonly type: ExchangeType;
  /** Bindings held. */
  readonly size: number;
  /** Adds a binding; false when an identical one (same destination, key and arguments) exists. */
  add(binding: Binding): boolean;
  /** Removes the identical binding; false when absent. */
  remove(binding: Binding): boolean;
  /** Adds every destination the message reaches to `into`. */
  route(routingKey: string, headers: HeaderList | undefined, into: Set<string>): void;
  bindings(): Binding[];
  /** Destinations with at least one binding here. */
  hasDestination(destination: string): boolean;
  /** Removes every binding to `destination` and returns them. */
  removeDestination(destination: string): Binding[];
}

export function bindingId(binding: Binding): string {
  return `${binding.destination}\u0000${binding.routingKey}\u0000${canonicalHeaders(binding.args)}`;
}

/** Holds the binding list and per-destination counts every router needs. */
abstract class BaseRouter<Compiled> implements Router {
  abstract readonly type: ExchangeType;
  protected readonly table = new Map<string, { binding: Binding; compiled: Compiled }>();
  readonly #perDestination = new Map<string, Set<string>>();

  get size(): number {
    return this.table.size;
  }

  add(binding: Binding): boolean {
    const id = bindingId(binding);
    if (this.table.has(id)) return false;
    const compiled = this.compile(binding);
    this.table.set(id, { binding, compiled });
    let ids = this.#perDestination.get(binding.destination);
    if (ids === undefined) {
      ids = new Set();
      this.#perDestination.set(binding.destination, ids);
    }
    ids.add(id);
    this.index(id, binding, compiled);
    return true;
  }

  remove(binding: Binding): boolean {
    const id = bindingId(binding);
    const entry = this.table.get(id);
    if (entry === undefined) return false;
    this.table.delete(id);
    const ids = this.#perDestination.get(binding.destination)!;
    ids.delete(id);
    if (ids.size === 0) this.#perDestination.delete(binding.destination);
    this.unindex(id, entry.binding, entry.compiled);
    return true;
  }

  bindings(): Binding[] {
    return [...this.table.values()].map((entry) => entry.binding);
  }

  hasDestination(destination: string): boolean {
    return this.#perDestination.has(destination);
  }

  removeDestination(destination: string): Binding[] {
    const ids = [...(this.#perDestination.get(destination) ?? [])];
    const removed = ids.map((id) => this.table.get(id)!.binding);
    for (const binding of removed) this.remove(binding);
    return removed;
  }

  abstract route(routingKey: string, headers: HeaderList | undefined, into: Set<string>): void;
  protected abstract compile(binding: Binding): Compiled;
  protected abstract index(id: string, binding: Binding, compiled: Compiled): void;
  protected abstract unindex(id: string, binding: Binding, compiled: Compiled): void;
}

/** Exact routing-key match. Bindings differing only in arguments are counted, not duplicated. */
class DirectRouter extends BaseRouter<undefined> {
  readonly type = 'direct';
  readonly #byKey = new Map<string, Map<string, number>>();

  route(routingKey: string, _headers: HeaderList | undefined, into: Set<string>): void {
    const destinations = this.#byKey.get(routingKey);
    if (destinations === undefined) return;
    for (const destination of destinations.keys()) into.add(destination);
  }

  protected compile(): undefined {
    return undefined;
  }

  protected index(_id: string, binding: Binding): void {
    let destinations = this.#byKey.get(binding.routingKey);
    if (destinations === undefined) {
      destinations = new Map();
      this.#byKey.set(binding.routingKey, destinations);
    }
    destinations.set(binding.destination, (destinations.get(binding.destination) ?? 0) + 1);
  }

  protected unindex(_id: string, binding: Binding): void {
    const destinations = this.#byKey.get(binding.routingKey)!;
    const left = destinations.get(binding.destination)! - 1;
    if (left > 0) destinations.set(binding.destination, left);
    else destinations.delete(binding.destination);
    if (destinations.size === 0) this.#byKey.delete(binding.routingKey);
  }
}

/** Every bound destination, whatever the key. */
class FanoutRouter extends BaseRouter<undefined> {
  readonly type = 'fanout';

  route(_routingKey: string, _headers: HeaderList | undefined, into: Set<string>): void {
    for (const { binding } of this.table.values()) into.add(binding.destination);
  }

  protected compile(): undefined {
    return undefined;
  }

  protected index(): void {}

  protected unindex(): void {}
}

/** Topic patterns through the shared trie; the trie holds binding ids so duplicates by args stay apart. */
class TopicRouter extends BaseRouter<undefined> {
  readonly type = 'topic';
  readonly #matcher = new TopicMatcher<string>();

  route(routingKey: string, _headers: HeaderList | undefined, into: Set<string>): void {
    for (const id of this.#matcher.match(routingKey)) into.add(this.table.get(id)!.binding.destination);
  }

  protected compile(): undefined {
    return undefined;
  }

  protected index(id: string, binding: Binding): void {
    this.#matcher.add(binding.routingKey, id);
  }

  protected unindex(id: string, binding: Binding): void {
    this.#matcher.remove(binding.routingKey, id);
  }
}

/** Header tables; the routing key is ignored. Rules are parsed once at bind time. */
class HeadersRouter extends BaseRouter<HeadersRule> {
  readonly type = 'headers';

  route(_routingKey: string, headers: HeaderList | undefined, into: Set<string>): void {
    if (this.table.size === 0) return;
    const index = indexHeaders(headers);
    for (const { binding, compiled } of this.table.values()) {
      if (into.has(binding.destination)) continue;
      if (headersRuleMatchesIndex(compiled, index)) into.add(binding.destination);
    }
  }

  protected compile(binding: Binding): HeadersRule {
    return compileHeadersRule(binding.args);
  }

  protected index(): void {}

  protected unindex(): void {}
}

export function createRouter(type: ExchangeType): Router {
  switch (type) {
    case 'direct':
      return new DirectRouter();
    case 'fanout':
      return new FanoutRouter();
    case 'topic':
      return new TopicRouter();
    case 'headers':
      return new HeadersRouter();
    default:
      return unreachable(type, 'Unknown exchange type');
  }
}

export const exchangeTypes: readonly ExchangeType[] = ['direct', 'fanout', 'topic', 'headers'];

export function isExchangeType(value: string): value is ExchangeType {
  return (exchangeTypes as readonly string[]).includes(value);
}
