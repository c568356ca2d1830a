/**
 * Room to send on one connection, as a credit limit its consumers carry (core's
 * `ConsumeOptions.sendRoom`): none while more than `bytesMax` wait unsent, so a client that does not
 * read its socket stops getting deliveries instead of the broker queueing them towards it. Queues
 * waiting on it are woken when the socket drains; when the bytes were only gathered for this turn's
 * write and the socket took them at once (no drain follows), a check after that write wakes them.
 * A connection that stops reading while its answers wait unsent listens first, so that it reads on
 * before the consumers woken with it fill the socket again (it would otherwise wait for a drain that
 * such a check-driven refill never gives).
 */
import type { CreditLimit } from '../core/types.js';
import type { Transport } from './transport.js';

export function sendRoom(transport: Transport, unsentBytes: () => number, bytesMax: number): CreditLimit {
  const listeners = new Set<() => void>();
  let checkArmed = false;
  const wake = (): void => {
    if (unsentBytes() > bytesMax) return;
    // A copy: a woken queue delivers, and a consumer may be cancelled meanwhile.
    for (const listener of [...listeners]) listener();
  };
  const check = (): void => {
    checkArmed = false;
    wake();
  };
  transport.onDrain(wake);
  return {
    hasRoom: () => {
      if (unsentBytes() <= bytesMax) return true;
      if (!checkArmed && !transport.closed) {
        checkArmed = true;
        setImmediate(check);
      }
      return false;
    },
    take: () => undefined,
    release: () => undefined,
    onRoom: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
