/**
 * The query cache (`CacheKey`, `CacheTTL` on a query): a response is kept for `CacheTTL` seconds under
 * its channel and key, and a query with the same key within that time is answered from here with
 * `CacheHit`. KubeMQ's community edition validates these fields but never caches. Bounded in entries
 * and bytes; the oldest entries go first.
 */
import type { Response } from './types.js';

interface Entry {
  readonly response: Response;
  readonly expiresAtMs: number;
  readonly bytes: number;
}

export class QueryCache {
  readonly #entriesMax: number;
  readonly #bytesMax: number;
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(entriesMax: number, bytesMax: number) {
    this.#entriesMax = entriesMax;
    this.#bytesMax = bytesMax;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(channel: string, key: string, nowMs: number): Response | undefined {
    const name = cacheName(channel, key);
    const entry = this.#entries.get(name);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs > nowMs) return entry.response;
    this.#delete(name, entry);
    return undefined;
  }

  put(channel: string, key: string, response: Response, ttlMs: number, nowMs: number): void {
    const bytes = response.Body.length + response.Metadata.length + key.length;
    if (bytes > this.#bytesMax) return;
    const name = cacheName(channel, key);
    const old = this.#entries.get(name);
    if (old !== undefined) this.#delete(name, old);
    while (this.#entries.size >= this.#entriesMax || this.#bytes + bytes > this.#bytesMax) {
      const [oldest, entry] = this.#entries.entries().next().value as [string, Entry];
      this.#delete(oldest, entry);
    }
    this.#entries.set(name, { response, expiresAtMs: nowMs + ttlMs, bytes });
    this.#bytes += bytes;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  #delete(name: string, entry: Entry): void {
    this.#entries.delete(name);
    this.#bytes -= entry.bytes;
  }
}

function cacheName(channel: string, key: string): string {
  return `${channel.length}:${channel}${key}`;
}
