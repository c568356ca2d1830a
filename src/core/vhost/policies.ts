/**
 * What the vhost's policies make of its objects: a queue's effective options (what its engine runs
 * with), an exchange's alternate exchange and a stream's retention. Read from the policy store on
 * each question, so a change is seen as soon as it is recorded; `Vhost.applyPolicies` pushes it to
 * objects that keep settings (queue engines, stream retention).
 */
import type { PolicyDefinition } from '../policy/definition.js';
import {
  effectiveQueueOptions,
  matchPolicy,
  mergedDefinition,
  type PolicyTarget,
  queueTarget,
  streamRetention,
} from '../policy/effective.js';
import type { PolicyStore } from '../policy/store.js';
import type { QueueOptions } from '../types.js';

export class VhostPolicies {
  readonly #vhost: string;
  readonly #store: PolicyStore;

  constructor(vhost: string, store: PolicyStore) {
    this.#vhost = vhost;
    this.#store = store;
  }

  definitionFor(name: string, target: PolicyTarget): PolicyDefinition {
    const policy = matchPolicy(this.#store.list(this.#vhost, 'policy'), name, target);
    const operator = matchPolicy(this.#store.list(this.#vhost, 'operator'), name, target);
    return policy === undefined && operator === undefined ? {} : mergedDefinition(policy, operator);
  }

  queueOptions(name: string, declared: QueueOptions): QueueOptions {
    const definition = this.definitionFor(name, queueTarget(declared));
    return Object.keys(definition).length === 0 ? declared : effectiveQueueOptions(declared, definition);
  }

  /** An alternate exchange named by policy; the exchange's own argument is asked first. */
  alternateExchange(name: string): string | undefined {
    return this.definitionFor(name, 'exchange')['alternate-exchange'];
  }

  streamRetention(name: string): { bytesMax?: number; ageMsMax?: number } {
    return streamRetention(this.definitionFor(name, 'stream'));
  }

  maxQueues(): number | undefined {
    return this.#store.vhostLimits(this.#vhost)['max-queues'];
  }
}
