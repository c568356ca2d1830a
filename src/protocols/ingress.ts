/**
 * The broker-wide ingress budget: bytes read from clients and not yet handed on — partial frames,
 * whole frames queued behind a handler that waits, AMQP messages being assembled from body frames —
 * across every connection of every listener (Kafka's `queued.max.request.bytes`). The server makes one
 * and hands it to every listener in the `ListenerContext`; each connection opens an account and
 * reports what it holds as bytes arrive and as it hands them on.
 *
 * - When the bytes held reach `bytesMax`, every connection holding bytes stops reading its socket (TCP
 *   back-pressure), except the one holding the most, so that a frame larger than what is left can still
 *   complete; a connection that then keeps part of what it reads stops too. Connections whose requests
 *   arrive whole are still served. All read again once the total is back under `resumeBytes`. The
 *   overshoot is at most one read per connection, and a peer holds memory only by sending it, never
 *   by announcing a length.
 * - Connections that have not logged in may hold `unauthenticatedBytesMax` between them. Past that, the
 *   one that has been holding bytes the longest is closed: a client that logs in sends its handshake at
 *   once, one that stalls halfway is the one to go, so stalled handshakes cannot keep others out.
 */
import { assert } from '../shared/assert.js';

export interface IngressLimits {
  readonly bytesMax: number;
  readonly unauthenticatedBytesMax: number;
}

/** What the budget may ask of a connection. */
export interface IngressHandle {
  /** Stop reading the socket until `resume`: the budget is spent. */
  pause(): void;
  resume(): void;
  /** Close the connection: it has not logged in and held bytes the longest when their share ran out. */
  evict(): void;
}

export interface IngressStats {
  /** Bytes held now, by all connections and by those not logged in. */
  readonly bytes: number;
  readonly unauthenticatedBytes: number;
  readonly accounts: number;
  /** Connections not reading because the budget is spent. */
  readonly paused: number;
  /** Times the budget ran out, and connections closed for holding unauthenticated bytes. */
  readonly exhaustions: number;
  readonly evictions: number;
}

export class IngressBudget {
  readonly limits: IngressLimits;
  /** Below this again, paused connections read on; an eighth of the budget apart, so reading does not flap. */
  readonly resumeBytes: number;
  #bytes = 0;
  #unauthenticatedBytes = 0;
  readonly #accounts = new Set<IngressAccount>();
  /** Accounts holding bytes. */
  readonly #holding = new Set<IngressAccount>();
  /** Unauthenticated accounts holding bytes, in the order they began to hold them. */
  readonly #holders = new Set<IngressAccount>();
  readonly #paused = new Set<IngressAccount>();
  /** While exhausted: the account left reading. */
  #exempt: IngressAccount | undefined;
  #exhausted = false;
  #exhaustions = 0;
  #evictions = 0;

  constructor(limits: IngressLimits) {
    assert(limits.bytesMax > 0 && limits.unauthenticatedBytesMax > 0, 'ingress limits must be positive');
    this.limits = {
      bytesMax: limits.bytesMax,
      unauthenticatedBytesMax: Math.min(limits.unauthenticatedBytesMax, limits.bytesMax),
    };
    this.resumeBytes = limits.bytesMax - Math.ceil(limits.bytesMax / 8);
  }

  /** An account for a new connection. */
  open(handle: IngressHandle): IngressAccount {
    const account = new IngressAccount(this, handle);
    this.#accounts.add(account);
    return account;
  }

  stats(): IngressStats {
    return {
      bytes: this.#bytes,
      unauthenticatedBytes: this.#unauthenticatedBytes,
      accounts: this.#accounts.size,
      paused: this.#paused.size,
      exhaustions: this.#exhaustions,
      evictions: this.#evictions,
    };
  }

  /** @internal Called by `IngressAccount` with the change of what it holds. */
  changed(account: IngressAccount, delta: number, was: number): void {
    this.#bytes += delta;
    if (account.bytes === 0) this.#holding.delete(account);
    else this.#holding.add(account);
    if (!account.authenticated) {
      this.#unauthenticatedBytes += delta;
      if (was === 0 && account.bytes > 0) this.#holders.add(account);
      else if (account.bytes === 0) this.#holders.delete(account);
      if (delta > 0) this.#evictStalled(account);
    }
    if (delta > 0 && !this.#exhausted && this.#bytes >= this.limits.bytesMax) this.#exhaust();
    else if (delta > 0 && this.#exhausted && account !== this.#exempt && !account.closed)
      this.#pause(account);
    else if (delta < 0 && this.#exhausted && this.#bytes <= this.resumeBytes) this.#replenish();
  }

  /** @internal */
  authenticated(account: IngressAccount): void {
    this.#unauthenticatedBytes -= account.bytes;
    this.#holders.delete(account);
  }

  /** @internal The account's bytes are released already. */
  closed(account: IngressAccount): void {
    this.#accounts.delete(account);
    this.#holding.delete(account);
    this.#paused.delete(account);
    if (this.#exempt === account && this.#exhausted) this.#exemptLargest();
  }

  #evictStalled(current: IngressAccount): void {
    while (this.#unauthenticatedBytes > this.limits.unauthenticatedBytesMax) {
      // One connection past the whole share by itself goes: closing the others would not make room.
      let victim: IngressAccount = current;
      if (current.bytes <= this.limits.unauthenticatedBytesMax) {
        for (const holder of this.#holders) {
          if (holder !== current) {
            victim = holder;
            break;
          }
        }
      }
      this.#evictions++;
      victim.close();
      victim.handle.evict();
    }
  }

  #exhaust(): void {
    this.#exhausted = true;
    this.#exhaustions++;
    this.#exempt = this.#largest(this.#holding);
    for (const account of this.#holding) if (account !== this.#exempt) this.#pause(account);
  }

  #replenish(): void {
    this.#exhausted = false;
    this.#exempt = undefined;
    const paused = [...this.#paused];
    this.#paused.clear();
    for (const account of paused) account.handle.resume();
  }

  /** The exempt account closed while the budget is spent: the next largest holder reads on. */
  #exemptLargest(): void {
    this.#exempt = this.#largest(this.#paused);
    if (this.#exempt === undefined) return;
    this.#paused.delete(this.#exempt);
    this.#exempt.handle.resume();
  }

  #largest(accounts: Iterable<IngressAccount>): IngressAccount | undefined {
    let largest: IngressAccount | undefined;
    for (const account of accounts)
      if (largest === undefined || account.bytes > largest.bytes) largest = account;
    return largest;
  }

  #pause(account: IngressAccount): void {
    if (this.#paused.has(account)) return;
    this.#paused.add(account);
    account.handle.pause();
  }
}

/** One connection's share of the budget. Every method is a no-op once it is closed. */
export class IngressAccount {
  readonly #budget: IngressBudget;
  readonly handle: IngressHandle;
  #bytes = 0;
  #authenticated = false;
  #closed = false;

  constructor(budget: IngressBudget, handle: IngressHandle) {
    this.#budget = budget;
    this.handle = handle;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get authenticated(): boolean {
    return this.#authenticated;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes that arrived and are kept. */
  add(bytes: number): void {
    if (this.#closed || bytes <= 0) return;
    const was = this.#bytes;
    this.#bytes += bytes;
    this.#budget.changed(this, bytes, was);
  }

  /** Bytes handed on (a whole frame went to its handler) or dropped. */
  remove(bytes: number): void {
    if (this.#closed || bytes <= 0) return;
    const was = this.#bytes;
    // Never below zero: a miscounting caller must not hand bytes to the others.
    const released = Math.min(bytes, was);
    this.#bytes -= released;
    this.#budget.changed(this, -released, was);
  }

  /** The connection logged in: its bytes leave the unauthenticated share. */
  authenticate(): void {
    if (this.#closed || this.#authenticated) return;
    this.#budget.authenticated(this);
    this.#authenticated = true;
  }

  /** Releases everything held; the connection is gone. */
  close(): void {
    if (this.#closed) return;
    this.remove(this.#bytes);
    this.#closed = true;
    this.#budget.closed(this);
  }
}
