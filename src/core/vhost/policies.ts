/**
 * What the vhost's policies make of its objects: a queue's effective options (what its engine runs
 * with), an exchange's alternate exchange and a stream's retention. Which policy applies to an object
 * is worked out once per object and kept until a policy changes (the store's generation grows) or the
 * object goes (`forget`), so a listing of 100,000 queues does not match every queue against every
 * policy on every request; `Vhost.applyPolicies` pushes a change to objects that keep settings (queue
 * engines, stream retention).
 */
import type { Policy, PolicyDefinition } from '../policy/definition.js';
import {
  type AppliedPolicy,
  effectiveQueueOptions,
  matchPolicy,
  mergedDefinition,
  type PolicyTarget,
  queueTarget,
  streamRetention,
} from '../policy/effective.js';
import type { PolicyStore } from '../policy/store.js';
import type { QueueOptions } from '../types.js';

/** The policy and operator policy of one object, and what they amount to. */
interface Applied {
  readonly policy?: Policy;
  readonly operator?: Policy;
  readonly definition: PolicyDefinition;
}

const nothingApplied: Applied = Object.freeze({ definition: Object.freeze({}) });
const queueTargets: readonly PolicyTarget[] = ['classic', 'quorum', 'stream'];

export class VhostPolicies {
  readonly #vhost: string;
  readonly #store: PolicyStore;
  /** The store's generation the entries below were worked out at. */
  #generation = -1;
  #policies: { policy: readonly Policy[]; operator: readonly Policy[] } = { policy: [], operator: [] };
  readonly #applied = new Map<PolicyTarget, Map<string, Applied>>();

  constructor(vhost: string, store: PolicyStore) {
    this.#vhost = vhost;
    this.#store = store;
  }

  #appliedTo(name: string, target: PolicyTarget): Applied {
    if (this.#generation !== this.#store.generation) {
      this.#generation = this.#store.generation;
      this.#applied.clear();
      this.#policies = {
        policy: this.#store.list(this.#vhost, 'policy'),
        operator: this.#store.list(this.#vhost, 'operator'),
      };
    }
    let byName = this.#applied.get(target);
    if (byName === undefined) {
      byName = new Map();
      this.#applied.set(target, byName);
    }
    let found = byName.get(name);
    if (found === undefined) {
      const policy = matchPolicy(this.#policies.policy, name, target);
      const operator = matchPolicy(this.#policies.operator, name, target);
      found =
        policy === undefined && operator === undefined
          ? nothingApplied
          : {
              ...(policy === undefined ? {} : { policy }),
              ...(operator === undefined ? {} : { operator }),
              definition: Object.freeze(mergedDefinition(policy, operator)),
            };
      byName.set(name, found);
    }
    return found;
  }

  /** The merged definition in force on `name` (frozen: shared by every caller). */
  definitionFor(name: string, target: PolicyTarget): PolicyDefinition {
    return this.#appliedTo(name, target).definition;
  }

  /** RabbitMQ's listing fields of one object: the policies' names and their merged definition. */
  applied(name: string, target: PolicyTarget): AppliedPolicy {
    const { policy, operator, definition } = this.#appliedTo(name, target);
    return {
      name,
      ...(policy === undefined ? {} : { policy: policy.name }),
      ...(operator === undefined ? {} : { operatorPolicy: operator.name }),
      definition,
    };
  }

  /** A queue (or stream) or an exchange is gone: what was worked out for it goes too. */
  forget(kind: 'queue' | 'exchange', name: string): void {
    for (const target of kind === 'queue' ? queueTargets : ['exchange' as const])
      this.#applied.get(target)?.delete(name);
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
