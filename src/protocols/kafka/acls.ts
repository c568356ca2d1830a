/**
 * Kafka's ACLs on the Kafka listener: the wire codes of resource types, pattern types, operations and
 * permissions (Kafka's ResourceType, PatternType, AclOperation, AclPermissionType) mapped onto core's
 * words, and each connection's cache of core's decisions. Core decides (src/core/entry/authorize.ts:
 * super users, the connection's permissions, the bindings); a connection asks once per resource and
 * operation and keeps the answer until users, permissions or ACLs change (`accessGeneration`) or its
 * principal does (SASL).
 */
import type {
  AclAction,
  AclOperation,
  AclPatternType,
  AclPermission,
  AclRequester,
  AclResourceType,
  CoreBroker,
  CoreClient,
} from '../../core/api.js';
import { KafkaError } from './errors.js';

/** What a client that did not authenticate is, as Kafka names it. */
export const anonymousPrincipal = 'User:ANONYMOUS';

/** ResourceType codes; USER (7) and DELEGATION_TOKEN (6) name resources Switchyard has none of. */
export const resourceTypeCodes: Readonly<Record<AclResourceType | 'ANY', number>> = {
  ANY: 1,
  TOPIC: 2,
  GROUP: 3,
  CLUSTER: 4,
  TRANSACTIONAL_ID: 5,
};
export const patternTypeCodes: Readonly<Record<AclPatternType | 'ANY' | 'MATCH', number>> = {
  ANY: 1,
  MATCH: 2,
  LITERAL: 3,
  PREFIXED: 4,
};
export const operationCodes: Readonly<Record<AclOperation | 'ANY', number>> = {
  ANY: 1,
  ALL: 2,
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
};
export const permissionCodes: Readonly<Record<AclPermission | 'ANY', number>> = { ANY: 1, DENY: 2, ALLOW: 3 };

/** The word of a code, or undefined for UNKNOWN and codes Switchyard does not know. */
export function wordOf<W extends string>(codes: Readonly<Record<W, number>>, code: number): W | undefined {
  for (const [word, value] of Object.entries(codes) as Array<[W, number]>) if (value === code) return word;
  return undefined;
}

/** Decisions kept per connection before the cache starts afresh. */
const decisionsMax = 10_000;

type Operation = AclAction['operation'];

/** What the cache follows of the listener's broker: core's access generation (a `KafkaBroker` is one). */
export interface AclBroker {
  readonly core: Pick<CoreBroker, 'accessGeneration'>;
}

/**
 * What a check needs of a request: its connection's decisions and its principal (a `RequestContext`
 * is one; taking this instead keeps ./context.ts, which holds a `ConnectionAcls`, out of this file).
 */
export interface AclAsker {
  readonly acls: ConnectionAcls;
  readonly kafkaPrincipal: string;
}

/** One connection's decisions, by resource type and operation, then name. */
export class ConnectionAcls {
  readonly #broker: AclBroker;
  readonly #host: string;
  /** The core caller whose permissions count: the connection's user, which SASL may change. */
  readonly #caller: () => CoreClient;
  /** By resource type, then operation, then name: no key is built per check (a Produce makes one per topic). */
  readonly #decisions = new Map<AclResourceType, Map<Operation, Map<string, boolean>>>();
  /** KIP-679's "some resource of the type" answers, by `<type> <operation>`. */
  readonly #some = new Map<string, boolean>();
  #size = 0;
  #generation = -1;
  #principal = '';

  constructor(broker: AclBroker, host: string, caller: () => CoreClient) {
    this.#broker = broker;
    this.#host = host;
    this.#caller = caller;
  }

  /** Whether the connection, as `principal`, may do `operation` on the resource. */
  allows(
    principal: string,
    resourceType: AclResourceType,
    resourceName: string,
    operation: Operation,
  ): boolean {
    const byName = this.#byName(principal, resourceType, operation);
    const known = byName.get(resourceName);
    if (known !== undefined) return known;
    const who = this.#who(principal);
    const allowed = this.#caller().authorizeAcl(who, { resourceType, resourceName, operation });
    if (this.#size >= decisionsMax) this.#clear();
    byName.set(resourceName, allowed);
    this.#size++;
    return allowed;
  }

  /** Whether it may do `operation` on some resource of the type (KIP-679). */
  allowsSome(principal: string, resourceType: AclResourceType, operation: Operation): boolean {
    this.#follow(principal);
    const key = `${resourceType} ${operation}`;
    const known = this.#some.get(key);
    if (known !== undefined) return known;
    const allowed = this.#caller().authorizeAclSome(this.#who(principal), resourceType, operation);
    this.#some.set(key, allowed);
    return allowed;
  }

  #who(principal: string): AclRequester {
    return { principal, host: this.#host };
  }

  #byName(principal: string, resourceType: AclResourceType, operation: Operation): Map<string, boolean> {
    this.#follow(principal);
    let byOperation = this.#decisions.get(resourceType);
    if (byOperation === undefined) {
      byOperation = new Map();
      this.#decisions.set(resourceType, byOperation);
    }
    let byName = byOperation.get(operation);
    if (byName === undefined) {
      byName = new Map();
      byOperation.set(operation, byName);
    }
    return byName;
  }

  /** Forgets every decision once users, permissions or ACLs changed, or the principal did. */
  #follow(principal: string): void {
    const generation = this.#broker.core.accessGeneration;
    if (generation === this.#generation && principal === this.#principal) return;
    this.#clear();
    this.#generation = generation;
    this.#principal = principal;
  }

  #clear(): void {
    this.#decisions.clear();
    this.#some.clear();
    this.#size = 0;
  }
}

/** The request's decision for one action. */
export function allowed(
  ctx: AclAsker,
  resourceType: AclResourceType,
  resourceName: string,
  operation: Operation,
): boolean {
  return ctx.acls.allows(ctx.kafkaPrincipal, resourceType, resourceName, operation);
}

/**
 * The refusal of a KIP-848 or share group heartbeat, as Kafka checks it: READ on the group, DESCRIBE
 * on every topic subscribed to; undefined when allowed.
 */
export function heartbeatRefusal(
  ctx: AclAsker,
  groupId: string,
  topics: readonly string[] | null,
): { errorCode: KafkaError; errorMessage: string | null; memberEpoch: number } | undefined {
  if (!allowed(ctx, 'GROUP', groupId, 'READ'))
    return { errorCode: KafkaError.groupAuthorizationFailed, errorMessage: null, memberEpoch: -1 };
  const hidden = (topics ?? []).filter((t) => !allowed(ctx, 'TOPIC', t, 'DESCRIBE'));
  if (hidden.length === 0) return undefined;
  return {
    errorCode: KafkaError.topicAuthorizationFailed,
    errorMessage: `The client is not authorized to describe topics: ${hidden.join(', ')}`,
    memberEpoch: -1,
  };
}
