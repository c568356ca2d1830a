/**
 * The per-address cap of the broker's TCP listeners (AMQP, MQTT, Kafka, KubeMQ gRPC; plain and TLS).
 * One client address holds at most `connectionsPerAddressMax` of their sockets together, so that one
 * address cannot take the process's descriptors from every other client. The count is one rule for
 * every listener: a socket counts from its TCP accept — before a TLS handshake, before a byte is read —
 * until it closes.
 *
 * A socket past the cap is refused at accept, before any protocol state is built. It is closed at
 * once, unless its listener can say why in its protocol's own terms for a few bytes (MQTT over plain
 * TCP: CONNACK Quota exceeded): then it may wait up to `refusalWaitMs` for that, but only
 * `refusalsWaitingPerAddressMax` such sockets of one address at a time, so that refusals never hold
 * descriptors of their own beyond a handful. Refusals are counted per listener (for /metrics) and
 * logged at most once per `refusalLogIntervalMs`.
 */
import type { Socket } from 'node:net';
import { assert } from '../shared/assert.js';
import type { Logger } from '../shared/logger.js';

/** How long a refused socket may wait to be told so in its protocol's terms. */
export const refusalWaitMs = 2000;
/** Refused sockets of one address waiting to be told at once; past this they are closed at accept. */
export const refusalsWaitingPerAddressMax = 8;
/** At most one log line about refusals this often; the ones in between are counted on it. */
export const refusalLogIntervalMs = 10_000;

/** What became of a socket at accept. `tell`: refused, and the listener may say so before it closes. */
export type Admission = 'admitted' | 'tell' | 'closed';

/** One listener's door in the gate. */
export interface ListenerGate {
  /**
   * Counts `socket` against its address, or refuses it: `closed` (destroyed already), or `tell` when
   * `tellable` and few refusals of the address are waiting (it is destroyed after `refusalWaitMs`).
   */
  admit(socket: Socket, tellable: boolean): Admission;
  /** The listener is bound: its refusals are shown from now on, 0 until the first. */
  listening(): void;
  /** The whole gate's, every listener's (the admin API shows them). */
  stats(): AddressGateStats;
}

export interface AddressGateStats {
  /** Sockets counted now, and the addresses they come from. */
  readonly connections: number;
  readonly addresses: number;
  /** Sockets refused since start, per name of a listener bound through the gate (0 included). */
  readonly refused: ReadonlyMap<string, number>;
}

/**
 * The key an address is counted under: node:net gives an IPv4 client of a dual-stack socket as
 * `::ffff:a.b.c.d`, counted as its IPv4 address, so it is one address either way.
 */
function countedAs(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

function addressOf(socket: Socket): string | undefined {
  const address = socket.remoteAddress;
  return address === undefined ? undefined : countedAs(address);
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Runs from a socket's 'close' (deferred work: it must not throw), once per socket counted. */
function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 0) - 1;
  if (left <= 0) counts.delete(key);
  else counts.set(key, left);
}

export class AddressGate {
  readonly connectionsPerAddressMax: number;
  readonly #logger: Logger;
  readonly #counts = new Map<string, number>();
  readonly #waiting = new Map<string, number>();
  readonly #refused = new Map<string, number>();
  #connections = 0;
  /**
   * The 'close' listener of every counted socket, one for all, so that counting allocates nothing
   * per socket. A closed socket still gives its address: node:net keeps the peer it read at accept.
   */
  readonly #release: (this: Socket) => void;
  #loggedAtMs = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  constructor(connectionsPerAddressMax: number, logger: Logger) {
    assert(connectionsPerAddressMax >= 1, 'connectionsPerAddressMax must be positive');
    this.connectionsPerAddressMax = connectionsPerAddressMax;
    this.#logger = logger;
    const released = (socket: Socket) => {
      this.#connections--;
      const address = addressOf(socket);
      if (address !== undefined) decrement(this.#counts, address);
    };
    this.#release = function (this: Socket) {
      released(this);
    };
  }

  /**
   * The door of the listener named `listener`, its refusals counted under that name; every listener
   * gets one, and those that bind through it (the TCP ones) say so with `listening`.
   */
  forListener(listener: string): ListenerGate {
    return {
      admit: (socket, tellable) => this.#admit(socket, listener, tellable),
      listening: () => {
        if (!this.#refused.has(listener)) this.#refused.set(listener, 0);
      },
      stats: () => this.stats(),
    };
  }

  stats(): AddressGateStats {
    return { connections: this.#connections, addresses: this.#counts.size, refused: new Map(this.#refused) };
  }

  /** Sockets counted now from `address` (as node:net gives it; IPv4-mapped IPv6 is the IPv4 address). */
  connectionsFrom(address: string): number {
    return this.#counts.get(countedAs(address)) ?? 0;
  }

  #admit(socket: Socket, listener: string, tellable: boolean): Admission {
    const address = addressOf(socket);
    // Gone before it was handed to us (the peer reset it in the accept queue): nothing to count.
    if (address === undefined) {
      socket.destroy();
      return 'closed';
    }
    if ((this.#counts.get(address) ?? 0) < this.connectionsPerAddressMax) {
      this.#count(socket, address);
      return 'admitted';
    }
    increment(this.#refused, listener);
    this.#log(listener, address);
    if (!tellable || (this.#waiting.get(address) ?? 0) >= refusalsWaitingPerAddressMax) {
      socket.destroy();
      return 'closed';
    }
    increment(this.#waiting, address);
    const timer = setTimeout(() => socket.destroy(), refusalWaitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      decrement(this.#waiting, address);
    });
    return 'tell';
  }

  #count(socket: Socket, address: string): void {
    increment(this.#counts, address);
    this.#connections++;
    socket.on('close', this.#release);
  }

  /** One line per interval: a flood of refusals must not flood the log. */
  #log(listener: string, remote: string): void {
    const nowMs = Date.now();
    if (nowMs - this.#loggedAtMs < refusalLogIntervalMs) {
      this.#suppressed++;
      return;
    }
    this.#logger.warn(
      {
        listener,
        remote,
        connectionsPerAddressMax: this.connectionsPerAddressMax,
        suppressed: this.#suppressed,
      },
      'connection refused: its address holds connectionsPerAddressMax connections',
    );
    this.#loggedAtMs = nowMs;
    this.#suppressed = 0;
  }
}
