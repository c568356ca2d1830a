/**
 * The retained set of one vhost, an owned object with its own log (./state/retained-entries.ts):
 * one message per routing key, handed to new subscribers whose pattern matches it. Matching is the
 * core's topic matcher on AMQP-form patterns (`*` one word, `#` any); protocol rules on top of it
 * (MQTT's `$` topics) are the adapter's.
 */
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { RetainedMessage } from './api.js';
import { OwnedLog, sourceOf, type VhostObjectDeps, vhostObjectOptions } from './state/owned-log.js';
import {
  type RetainedEntry,
  type RetainedState,
  retainedBytes,
  retainedMachine,
} from './state/retained-entries.js';
import type { OpenedLog } from './state/state-log.js';

export type { RetainedMessage };

/** Retained messages in one vhost (one per routing key). */
export const retainedPerVhostMax = 1_000_000;

export class RetainedSet {
  readonly #vhost: string;
  readonly #log: OwnedLog<RetainedState, RetainedEntry>;
  readonly #bytesMax: number;
  /** Expired messages found by `match`, cleared at the end of the job. */
  readonly #expired = new Set<string>();

  private constructor(vhost: string, log: OwnedLog<RetainedState, RetainedEntry>, bytesMax: number) {
    this.#vhost = vhost;
    this.#log = log;
    this.#bytesMax = bytesMax;
  }

  /** The set found at start, or a new one. */
  static async open(
    deps: VhostObjectDeps & { readonly bytesMax: number },
    found: OpenedLog<RetainedState> | undefined,
  ): Promise<RetainedSet> {
    const options = vhostObjectOptions(deps, retainedMachine, 'retained');
    return new RetainedSet(deps.vhost, await OwnedLog.open(options, sourceOf(found)), deps.bytesMax);
  }

  get size(): number {
    return this.#log.state.size;
  }

  /** Replaces the retained message of `message.key`; resolves once durable. */
  async set(message: RetainedMessage): Promise<void> {
    const state = this.#log.state;
    if (!state.has(message.key) && state.size >= retainedPerVhostMax) {
      const text = `Vhost '${this.#vhost}' has ${retainedPerVhostMax} retained messages`;
      throw brokerError(ErrorCode.resourceExhausted, text);
    }
    const replaced = state.get(message.key);
    const grows = retainedBytes(message) - (replaced === undefined ? 0 : retainedBytes(replaced));
    if (grows > 0 && state.bytes + grows > this.#bytesMax) {
      const text = `Vhost '${this.#vhost}' keeps retained messages of ${this.#bytesMax} bytes at most (retainedBytesMax)`;
      throw brokerError(ErrorCode.resourceExhausted, text);
    }
    // A copy: the body may be a view into a larger buffer the caller reuses.
    await this.#log.commit({ type: 'set', message: { ...message, body: Uint8Array.from(message.body) } });
  }

  async clear(key: string): Promise<void> {
    if (this.#log.state.has(key)) await this.#log.commit({ type: 'clear', key });
  }

  /** Retained messages whose key `pattern` matches; expired ones are left out and cleared. */
  match(pattern: string): RetainedMessage[] {
    const now = this.#log.exec.now();
    const out: RetainedMessage[] = [];
    for (const message of this.#log.state.matching(pattern)) {
      if (expired(message, now)) this.#clearLater(message.key);
      else out.push(message);
    }
    return out;
  }

  close(): Promise<void> {
    return this.#log.close();
  }

  destroy(): Promise<void> {
    return this.#log.destroy();
  }

  #clearLater(key: string): void {
    if (this.#expired.size === 0) {
      this.#log.exec.defer(() => {
        const keys = [...this.#expired];
        this.#expired.clear();
        const now = this.#log.exec.now();
        for (const key of keys) {
          const message = this.#log.state.get(key);
          if (message !== undefined && expired(message, now)) this.clear(key).catch(() => undefined);
        }
      });
    }
    this.#expired.add(key);
  }
}

function expired(message: RetainedMessage, now: number): boolean {
  const expiresAt = message.properties.expiresAtMs;
  return expiresAt !== undefined && expiresAt <= now;
}
