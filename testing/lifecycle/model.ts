/**
 * What the lifecycle test expects: every object name has a line of incarnations (one per declaration
 * after a delete), every message knows the incarnations it was routed to when it was published, and
 * every delivery is checked against that — a message may only come out of an incarnation it went
 * into, and only once unless flagged as a redelivery. Faults are collected, not thrown, so one run
 * reports all it saw.
 */

export class Faults {
  readonly list: string[] = [];
  static readonly kept = 60;

  add(text: string): void {
    if (this.list.length < Faults.kept) this.list.push(text);
  }
}

export type Kind = 'queue' | 'stream' | 'exchange' | 'topic' | 'session';

export class Incarnation {
  readonly name: string;
  readonly n: number;
  readonly kind: Kind;
  readonly durable: boolean;
  deleted = false;
  /** Message ids routed here, in publish order. */
  readonly routed: string[] = [];
  /** Of those, the ones the broker confirmed (publisher confirm, PUBACK, produce response). */
  readonly confirmed = new Set<string>();
  /** The ones the broker refused (nack, error): they may or may not be there. */
  readonly refused = new Set<string>();
  /** Delivered and acknowledged (classic queues): gone. */
  readonly removed = new Set<string>();
  /** Times each id was delivered from here. */
  readonly deliveries = new Map<string, number>();

  constructor(name: string, n: number, kind: Kind, durable: boolean) {
    this.name = name;
    this.n = n;
    this.kind = kind;
    this.durable = durable;
  }

  get label(): string {
    return `${this.kind} ${this.name}#${this.n}`;
  }

  /** What must still be in a classic queue: confirmed, routed, not acknowledged. */
  remaining(): string[] {
    return this.routed.filter((id) => this.confirmed.has(id) && !this.removed.has(id));
  }
}

/** The incarnations of every name one actor owns. */
export class Names {
  readonly #current = new Map<string, Incarnation>();
  readonly #count = new Map<string, number>();
  readonly all: Incarnation[] = [];

  current(name: string): Incarnation | undefined {
    return this.#current.get(name);
  }

  declare(name: string, kind: Kind, durable: boolean): Incarnation {
    const existing = this.#current.get(name);
    if (existing !== undefined) return existing;
    const n = (this.#count.get(name) ?? 0) + 1;
    this.#count.set(name, n);
    const inc = new Incarnation(name, n, kind, durable);
    this.#current.set(name, inc);
    this.all.push(inc);
    return inc;
  }

  delete(name: string): Incarnation | undefined {
    const inc = this.#current.get(name);
    if (inc === undefined) return undefined;
    inc.deleted = true;
    this.#current.delete(name);
    return inc;
  }

  live(): Incarnation[] {
    return [...this.#current.values()];
  }
}

/** Where each message was routed; deliveries are checked against it. */
export class Ledger {
  readonly #routes = new Map<string, readonly Incarnation[]>();
  readonly faults: Faults;

  constructor(faults: Faults) {
    this.faults = faults;
  }

  publish(id: string, targets: readonly Incarnation[]): void {
    this.#routes.set(id, targets);
    for (const t of targets) t.routed.push(id);
  }

  settle(id: string, ok: boolean): void {
    for (const t of this.#routes.get(id) ?? []) (ok ? t.confirmed : t.refused).add(id);
  }

  /** `id` was routed to `from`; a fault is recorded when not. */
  routedTo(id: string, from: Incarnation): boolean {
    const targets = this.#routes.get(id);
    if (targets === undefined) {
      this.faults.add(`${from.label} delivered ${id}, which was never published`);
      return false;
    }
    if (targets.includes(from)) return true;
    const went = targets.map((t) => t.label).join(', ') || 'nowhere';
    this.faults.add(`${from.label} delivered ${id}, published to ${went}`);
    return false;
  }

  /**
   * A delivery of `id` from `from`: it must have been routed there, and a repeat must be flagged
   * (AMQP redelivered, MQTT DUP). Returns false when it was not.
   */
  deliver(id: string, from: Incarnation, redelivered: boolean): boolean {
    if (!this.routedTo(id, from)) return false;
    const times = (from.deliveries.get(id) ?? 0) + 1;
    from.deliveries.set(id, times);
    if (times > 1 && !redelivered)
      this.faults.add(`${from.label} delivered ${id} again without the redelivered flag`);
    return true;
  }
}
