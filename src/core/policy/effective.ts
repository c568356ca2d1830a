/**
 * Which policy applies to an object, and what the object's settings become with it. RabbitMQ's rules:
 * of the policies whose pattern matches the name and whose `apply-to` covers the object, the one of
 * highest priority applies (ties go to the first name in order, so the answer never depends on the
 * order policies were set); one policy and one operator policy at most. For numeric limits the
 * smallest of the queue argument, the policy and the operator policy applies; for the other settings
 * a queue argument wins over the policy.
 */
import type { QueueOptions } from '../types.js';
import { type ApplyTo, maxAgeMs, numericKeys, type Policy, type PolicyDefinition } from './definition.js';

/** The policies that apply to one object and what they amount to (RabbitMQ's queue listing fields). */
export interface AppliedPolicy {
  readonly name: string;
  readonly policy?: string;
  readonly operatorPolicy?: string;
  /** The policy and operator policy merged (`effective_policy_definition`). */
  readonly definition: PolicyDefinition;
}

/** What a policy can be applied to. Quorum queues are classic queues declared `x-queue-type: quorum`. */
export type PolicyTarget = 'classic' | 'quorum' | 'stream' | 'exchange';

const coverage: Readonly<Record<ApplyTo, ReadonlySet<PolicyTarget>>> = {
  all: new Set(['classic', 'quorum', 'stream', 'exchange']),
  queues: new Set(['classic', 'quorum', 'stream']),
  classic_queues: new Set(['classic']),
  quorum_queues: new Set(['quorum']),
  streams: new Set(['stream']),
  exchanges: new Set(['exchange']),
};

/** Compiled patterns, by source; patterns are few and change rarely, so the cache stays small. */
const compiled = new Map<string, RegExp>();
const compiledMax = 4096;

function regexOf(pattern: string): RegExp {
  let regex = compiled.get(pattern);
  if (regex === undefined) {
    if (compiled.size >= compiledMax) compiled.clear();
    regex = new RegExp(pattern, 'u');
    compiled.set(pattern, regex);
  }
  return regex;
}

export function policyMatches(policy: Policy, name: string, target: PolicyTarget): boolean {
  return coverage[policy.applyTo].has(target) && regexOf(policy.pattern).test(name);
}

/** The policy that applies to `name`: highest priority, then first by name. */
export function matchPolicy(
  policies: Iterable<Policy>,
  name: string,
  target: PolicyTarget,
): Policy | undefined {
  let best: Policy | undefined;
  for (const policy of policies) {
    if (!policyMatches(policy, name, target)) continue;
    if (
      best === undefined ||
      policy.priority > best.priority ||
      (policy.priority === best.priority && policy.name < best.name)
    ) {
      best = policy;
    }
  }
  return best;
}

export function queueTarget(options: QueueOptions): PolicyTarget {
  if (options.kind === 'stream') return 'stream';
  return options.arguments?.['x-queue-type'] === 'quorum' ? 'quorum' : 'classic';
}

/** The policy and operator policy merged as RabbitMQ shows `effective_policy_definition`. */
export function mergedDefinition(policy?: Policy, operator?: Policy): PolicyDefinition {
  const merged: Record<string, unknown> = { ...policy?.definition };
  for (const [key, value] of Object.entries(operator?.definition ?? {})) {
    const own = merged[key];
    merged[key] =
      own !== undefined && numericKeys.has(key as keyof PolicyDefinition)
        ? Math.min(own as number, value as number)
        : value;
  }
  return merged as PolicyDefinition;
}

type NumericField = 'messageTtlMs' | 'expiresMs' | 'lengthMax' | 'bytesMax' | 'deliveryLimit';

/** The smaller of what the queue was declared with and what the policies say. */
function smaller(declared: number | undefined, policy: number | undefined): number | undefined {
  if (declared === undefined) return policy;
  return policy === undefined ? declared : Math.min(declared, policy);
}

/**
 * The settings a queue runs with: its declared options with the merged policy applied. The declared
 * options stay what the queue is compared and stored with; only the engine sees these.
 */
export function effectiveQueueOptions(declared: QueueOptions, definition: PolicyDefinition): QueueOptions {
  const out: QueueOptions = { ...declared };
  const numeric: Array<[NumericField, number | undefined]> = [
    ['messageTtlMs', definition['message-ttl']],
    ['expiresMs', definition.expires],
    ['lengthMax', definition['max-length']],
    ['deliveryLimit', definition['delivery-limit']],
  ];
  if (declared.kind === 'stream') {
    setIfDefined(out, 'streamBytesMax', smaller(declared.streamBytesMax, definition['max-length-bytes']));
    const age = definition['max-age'];
    const ageMs = age === undefined ? undefined : maxAgeMs(age);
    setIfDefined(out, 'streamAgeMsMax', smaller(declared.streamAgeMsMax, ageMs));
  } else {
    numeric.push(['bytesMax', definition['max-length-bytes']]);
  }
  for (const [field, value] of numeric) setIfDefined(out, field, smaller(declared[field], value));
  if (declared.overflow === undefined) setIfDefined(out, 'overflow', definition.overflow);
  if (declared.deadLetterExchange === undefined) {
    setIfDefined(out, 'deadLetterExchange', definition['dead-letter-exchange']);
  }
  if (declared.deadLetterRoutingKey === undefined) {
    setIfDefined(out, 'deadLetterRoutingKey', definition['dead-letter-routing-key']);
  }
  return out;
}

/** Stream retention from a policy for streams no queue declaration bounds (Kafka topics included). */
export function streamRetention(definition: PolicyDefinition): { bytesMax?: number; ageMsMax?: number } {
  const bounds: { bytesMax?: number; ageMsMax?: number } = {};
  setIfDefined(bounds, 'bytesMax', definition['max-length-bytes']);
  const age = definition['max-age'];
  setIfDefined(bounds, 'ageMsMax', age === undefined ? undefined : maxAgeMs(age));
  return bounds;
}

function setIfDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}
