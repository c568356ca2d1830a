/**
 * Who may hold a socket of an HTTP listener (the admin API, KubeMQ REST and WebSocket, MQTT over
 * WebSocket). Others must get through while slow or greedy clients try to hold every slot (slowloris:
 * heads sent one byte at a time, or nothing at all; or one address opening thousands of sockets), so a
 * socket that has not sent a whole request — a new one, or a keep-alive one between requests — holds
 * its slot only until someone needs it:
 *
 * - At most `connectionsMax` sockets (when set), and `connectionsPerAddressMax` from one client address.
 * - When a new socket would pass either cap, the socket under that cap that has waited longest without
 *   a whole request is closed in its place. Only when every socket there is in the middle of a request
 *   (or upgraded to a WebSocket, which stays busy for its life) is the new one refused, and the caller
 *   decides how (`admit` answers false).
 *
 * Node's own header, request and keep-alive timeouts close slow and idle sockets in any case.
 */
import type { Socket } from 'node:net';

export interface ConnectionSlotLimits {
  /** Sockets of the listener; no bound of its own when absent (the process's descriptors are). */
  readonly connectionsMax?: number;
  readonly connectionsPerAddressMax: number;
}

interface Slot {
  readonly address: string;
  /** Since when it has waited without a whole request; undefined while a request is under way. */
  waitingSinceMs: number | undefined;
}

export class ConnectionSlots {
  readonly #limits: ConnectionSlotLimits;
  readonly #slots = new Map<Socket, Slot>();
  readonly #byAddress = new Map<string, Set<Socket>>();
  #evictions = 0;
  #refusals = 0;

  constructor(limits: ConnectionSlotLimits) {
    this.#limits = limits;
  }

  /** A new socket: makes room for it and answers true, or answers false when there is none. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? '?';
    const fromAddress = this.#byAddress.get(address) ?? new Set<Socket>();
    const totalMax = this.#limits.connectionsMax ?? Number.POSITIVE_INFINITY;
    if (
      !this.#room(this.#slots.keys(), this.#slots.size, totalMax) ||
      !this.#room(fromAddress, fromAddress.size, this.#limits.connectionsPerAddressMax)
    ) {
      this.#refusals++;
      return false;
    }
    this.#slots.set(socket, { address, waitingSinceMs: Date.now() });
    fromAddress.add(socket);
    this.#byAddress.set(address, fromAddress);
    socket.once('close', () => this.#forget(socket));
    return true;
  }

  /** A whole request arrived on `socket` (or it was upgraded: then it stays busy). */
  busy(socket: Socket): void {
    const slot = this.#slots.get(socket);
    if (slot !== undefined) slot.waitingSinceMs = undefined;
  }

  /** Its response went out: the socket waits for another request. */
  idle(socket: Socket): void {
    const slot = this.#slots.get(socket);
    if (slot !== undefined) slot.waitingSinceMs = Date.now();
  }

  stats(): { connections: number; evictions: number; refusals: number } {
    return { connections: this.#slots.size, evictions: this.#evictions, refusals: this.#refusals };
  }

  /** True when below `max`, or after closing the longest-waiting of `sockets` to get there. */
  #room(sockets: Iterable<Socket>, count: number, max: number): boolean {
    if (count < max) return true;
    let oldest: Socket | undefined;
    let oldestMs = Number.POSITIVE_INFINITY;
    for (const socket of sockets) {
      const since = this.#slots.get(socket)?.waitingSinceMs;
      if (since !== undefined && since < oldestMs) {
        oldest = socket;
        oldestMs = since;
      }
    }
    if (oldest === undefined) return false;
    this.#evictions++;
    this.#forget(oldest);
    oldest.destroy();
    return true;
  }

  #forget(socket: Socket): void {
    const slot = this.#slots.get(socket);
    if (slot === undefined) return;
    this.#slots.delete(socket);
    const fromAddress = this.#byAddress.get(slot.address);
    fromAddress?.delete(socket);
    if (fromAddress?.size === 0) this.#byAddress.delete(slot.address);
  }
}
