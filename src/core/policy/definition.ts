/**
 * Policies as operators write them: a name, a pattern over object names, what kind of object it
 * applies to, a priority and a definition of settings keyed as RabbitMQ keys them (`max-length`,
 * `message-ttl`, …). Validation happens here, once, with RabbitMQ's error texts, so the admin API,
 * definitions import and core all refuse the same things the same way.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import { durationMsMax } from '../queues/options.js';

export const applyToValues = [
  'queues',
  'classic_queues',
  'quorum_queues',
  'streams',
  'exchanges',
  'all',
] as const;
export type ApplyTo = (typeof applyToValues)[number];

export type QueueOverflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

/** The settings a policy may carry; every one optional, keyed as RabbitMQ keys them. */
export interface PolicyDefinition {
  readonly 'message-ttl'?: number;
  readonly expires?: number;
  readonly 'max-length'?: number;
  readonly 'max-length-bytes'?: number;
  readonly overflow?: QueueOverflow;
  readonly 'dead-letter-exchange'?: string;
  readonly 'dead-letter-routing-key'?: string;
  readonly 'queue-mode'?: 'default' | 'lazy';
  readonly 'delivery-limit'?: number;
  /** Streams: retention by age, as RabbitMQ writes it (`7D`, `12h`, `30m`, `10s`, `1Y`, `6M`). */
  readonly 'max-age'?: string;
  readonly 'stream-max-segment-size-bytes'?: number;
  /** Exchanges: where messages routed nowhere go. */
  readonly 'alternate-exchange'?: string;
}

export type PolicyKey = keyof PolicyDefinition;

export interface Policy {
  readonly name: string;
  readonly pattern: string;
  readonly applyTo: ApplyTo;
  readonly priority: number;
  readonly definition: PolicyDefinition;
}

/** Which of the two policy families: operator policies cap what users and their policies set. */
export type PolicyFamily = 'policy' | 'operator';

/** Numeric settings, where the smaller of every source applies (RabbitMQ's rule for limits). */
export const numericKeys: ReadonlySet<PolicyKey> = new Set<PolicyKey>([
  'message-ttl',
  'expires',
  'max-length',
  'max-length-bytes',
  'delivery-limit',
  'stream-max-segment-size-bytes',
]);

/** What an operator policy may set (RabbitMQ restricts them to limits). */
export const operatorKeys: ReadonlySet<PolicyKey> = new Set<PolicyKey>([
  'message-ttl',
  'expires',
  'max-length',
  'max-length-bytes',
  'delivery-limit',
]);

/** A stream's `max-age` (`x-max-age`): a count and a unit, as RabbitMQ accepts it. */
const maxAgePattern = /^(\d{1,12})([YMDhms])$/;
const unitMs: Readonly<Record<string, number>> = {
  Y: 365 * 86_400_000,
  M: 30 * 86_400_000,
  D: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
};

/** Milliseconds of a valid `max-age`; undefined when it is not one. */
export function maxAgeMs(text: string): number | undefined {
  const match = maxAgePattern.exec(text);
  if (match === null) return undefined;
  return Number(match[1]) * (unitMs[match[2]!] ?? 0);
}

type Check = (value: unknown) => boolean;

const nonNegative: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const duration: Check = (v) => nonNegative(v) && (v as number) <= durationMsMax;
const positiveDuration: Check = (v) => duration(v) && (v as number) >= 1;
const text: Check = (v) => typeof v === 'string';

/** Per key: the check and RabbitMQ's complaint when it fails (`~tp` is the value as JSON). */
const rules: Readonly<Record<PolicyKey, readonly [Check, string]>> = {
  'message-ttl': [duration, 'is not a valid message TTL'],
  expires: [positiveDuration, 'is not a valid queue expiry'],
  'max-length': [nonNegative, 'is not a valid maximum length'],
  'max-length-bytes': [nonNegative, 'is not a valid maximum length in bytes'],
  overflow: [
    (v) => v === 'drop-head' || v === 'reject-publish' || v === 'reject-publish-dlx',
    'is not a valid overflow value',
  ],
  'dead-letter-exchange': [text, 'is not a valid dead letter exchange name'],
  'dead-letter-routing-key': [text, 'is not a valid dead letter routing key'],
  'queue-mode': [(v) => v === 'default' || v === 'lazy', 'is not a valid queue-mode value'],
  'delivery-limit': [nonNegative, 'is not a valid delivery limit'],
  'max-age': [(v) => typeof v === 'string' && (maxAgeMs(v) ?? 0) > 0, 'is not a valid max age'],
  'stream-max-segment-size-bytes': [
    (v) => nonNegative(v) && (v as number) > 0 && (v as number) <= 3_000_000_000,
    'is not a valid segment size',
  ],
  'alternate-exchange': [text, 'is not a valid alternate exchange name'],
};

function invalid(message: string): Error {
  return brokerError(ErrorCode.invalidArgument, `Validation failed\n\n${message}\n`);
}

/** The definition checked key by key; RabbitMQ's texts for unknown keys and bad values. */
export function validateDefinition(raw: unknown, family: PolicyFamily): PolicyDefinition {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid(`${JSON.stringify(raw)} is not a valid policy definition`);
  }
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length === 0) throw invalid('no policy provided');
  const allowed = (key: string): key is PolicyKey =>
    key in rules && (family === 'policy' || operatorKeys.has(key as PolicyKey));
  const unknown = entries.map(([key]) => key).filter((key) => !allowed(key));
  if (unknown.length > 0) {
    throw invalid(`[${unknown.map((key) => `<<"${key}">>`).join(',')}] are not recognised policy settings`);
  }
  const definition: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    const [check, complaint] = rules[key as PolicyKey];
    if (!check(value)) throw invalid(`${JSON.stringify(value)} ${complaint}`);
    definition[key] = value;
  }
  if (
    definition['dead-letter-routing-key'] !== undefined &&
    definition['dead-letter-exchange'] === undefined
  ) {
    throw invalid('dead-letter-routing-key requires dead-letter-exchange');
  }
  return definition as PolicyDefinition;
}

/** What a client or an import sends for one policy (RabbitMQ's JSON field names). */
export interface PolicyInput {
  readonly pattern?: unknown;
  readonly definition?: unknown;
  readonly priority?: unknown;
  readonly 'apply-to'?: unknown;
}

/** A whole policy checked: pattern (a regex), apply-to, priority, then the definition. */
export function validatePolicy(name: string, input: PolicyInput, family: PolicyFamily): Policy {
  if (typeof input.pattern !== 'string') throw invalid(`Key "pattern" not found in ${name}`);
  try {
    new RegExp(input.pattern, 'u');
  } catch {
    throw invalid(`${JSON.stringify(input.pattern)} is not a valid regular expression`);
  }
  const applyTo = input['apply-to'] ?? 'all';
  if (typeof applyTo !== 'string' || !(applyToValues as readonly string[]).includes(applyTo)) {
    throw invalid(
      `apply-to '${String(applyTo)}' unrecognised; should be 'queues', 'classic_queues', 'quorum_queues', 'streams', 'exchanges', or 'all'`,
    );
  }
  const priority = input.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isSafeInteger(priority)) {
    throw invalid(`priority should be a number, actually was ${JSON.stringify(priority)}`);
  }
  if (input.definition === undefined) throw invalid(`Key "definition" not found in ${name}`);
  const definition = validateDefinition(input.definition, family);
  return { name, pattern: input.pattern, applyTo: applyTo as ApplyTo, priority, definition };
}

/** The policy as RabbitMQ's API shows it, less the vhost. */
export function policyToJson(policy: Policy): {
  name: string;
  pattern: string;
  'apply-to': ApplyTo;
  priority: number;
  definition: PolicyDefinition;
} {
  return {
    name: policy.name,
    pattern: policy.pattern,
    'apply-to': policy.applyTo,
    priority: policy.priority,
    definition: { ...policy.definition },
  };
}
