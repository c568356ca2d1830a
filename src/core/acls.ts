/**
 * ACL bindings as Kafka defines them (KIP-11, prefixed patterns KIP-290): a resource pattern (type,
 * name, LITERAL or PREFIXED) and an entry (principal, host, operation, ALLOW or DENY), kept as entries
 * of the definitions log (./state/acl-entries.ts) beside users and permissions. Filters (for listing
 * and deleting) add ANY and MATCH as Kafka's AclBindingFilter does. Decisions are made by
 * ./entry/authorize.ts over the compiled index (./acl-index.ts); this file holds the model and its
 * checks, ./acl-store.ts the store.
 */
import { brokerError, ErrorCode } from '../shared/errors.js';

export const aclResourceTypes = ['TOPIC', 'GROUP', 'CLUSTER', 'TRANSACTIONAL_ID'] as const;
export type AclResourceType = (typeof aclResourceTypes)[number];
export const aclPatternTypes = ['LITERAL', 'PREFIXED'] as const;
export type AclPatternType = (typeof aclPatternTypes)[number];
export const aclOperations = [
  'ALL',
  'READ',
  'WRITE',
  'CREATE',
  'DELETE',
  'ALTER',
  'DESCRIBE',
  'CLUSTER_ACTION',
  'DESCRIBE_CONFIGS',
  'ALTER_CONFIGS',
  'IDEMPOTENT_WRITE',
] as const;
export type AclOperation = (typeof aclOperations)[number];
export const aclPermissions = ['ALLOW', 'DENY'] as const;
export type AclPermission = (typeof aclPermissions)[number];

/** The one name of the CLUSTER resource. */
export const clusterResourceName = 'kafka-cluster';
/** A literal resource name or host that matches every name or host. */
export const aclWildcard = '*';
/** The principal an entry names to apply to every principal. */
export const anyPrincipal = 'User:*';

export interface AclBinding {
  readonly resourceType: AclResourceType;
  readonly resourceName: string;
  readonly patternType: AclPatternType;
  /** `<type>:<name>`, e.g. `User:alice`, or `User:*`. */
  readonly principal: string;
  /** The client's IP address, or `*`. */
  readonly host: string;
  readonly operation: AclOperation;
  readonly permission: AclPermission;
}

/** Which bindings to list or delete; null and ANY match everything, MATCH what applies to a name. */
export interface AclFilter {
  readonly resourceType: AclResourceType | 'ANY';
  readonly resourceName: string | null;
  readonly patternType: AclPatternType | 'ANY' | 'MATCH';
  readonly principal: string | null;
  readonly host: string | null;
  readonly operation: AclOperation | 'ANY';
  readonly permission: AclPermission | 'ANY';
}

export const anyAcl: AclFilter = {
  resourceType: 'ANY',
  resourceName: null,
  patternType: 'ANY',
  principal: null,
  host: null,
  operation: 'ANY',
  permission: 'ANY',
};

/** One operation on one resource (always a literal name), as a request needs it. */
export interface AclAction {
  readonly resourceType: AclResourceType;
  readonly resourceName: string;
  readonly operation: Exclude<AclOperation, 'ALL'>;
}

/** Longest resource name, principal or host accepted, in characters. */
export const aclFieldCharsMax = 1024;
/** Bindings kept at most; more are refused. */
export const aclBindingsMax = 100_000;

/** Why Kafka would refuse to create the binding (its texts), or undefined when it may be created. */
export function aclBindingProblem(b: AclBinding): string | undefined {
  if (!aclResourceTypes.includes(b.resourceType)) return `Invalid resourceType ${String(b.resourceType)}`;
  if (!aclPatternTypes.includes(b.patternType)) return `Invalid patternType ${String(b.patternType)}`;
  if (!aclOperations.includes(b.operation)) return `Invalid operation ${String(b.operation)}`;
  if (!aclPermissions.includes(b.permission)) return `Invalid permissionType ${String(b.permission)}`;
  if (b.resourceName === '') return 'Invalid empty resource name';
  if (b.resourceType === 'CLUSTER' && b.resourceName !== clusterResourceName)
    return `The only valid name for the CLUSTER resource is ${clusterResourceName}`;
  if (!b.principal.includes(':'))
    return `Could not parse principal from \`${b.principal}\` (no colon is present separating the principal type from the principal name)`;
  if (b.host === '') return 'Invalid empty host';
  for (const field of [b.resourceName, b.principal, b.host]) {
    if (field.length > aclFieldCharsMax) return `ACL fields are at most ${aclFieldCharsMax} characters`;
  }
  return undefined;
}

/** Throws invalidArgument when the binding may not be created. */
export function checkAclBinding(b: AclBinding): void {
  const problem = aclBindingProblem(b);
  if (problem !== undefined) throw brokerError(ErrorCode.invalidArgument, problem);
}

/** Throws invalidArgument for a filter of words Kafka does not have (its UNKNOWN). */
export function checkAclFilter(f: AclFilter): void {
  const known = (value: string, words: readonly string[]) => value === 'ANY' || words.includes(value);
  const pattern =
    known(f.resourceType, aclResourceTypes) &&
    (f.patternType === 'MATCH' || known(f.patternType, aclPatternTypes));
  if (!pattern) throw brokerError(ErrorCode.invalidArgument, 'Unknown patternFilter.');
  if (!known(f.operation, aclOperations) || !known(f.permission, aclPermissions))
    throw brokerError(ErrorCode.invalidArgument, 'Unknown entryFilter.');
}

/** Kafka's ResourcePatternFilter.matches: MATCH finds the literal, wildcard and prefixed patterns of a name. */
function patternMatches(f: AclFilter, b: AclBinding): boolean {
  if (f.resourceType !== 'ANY' && f.resourceType !== b.resourceType) return false;
  if (f.patternType !== 'ANY' && f.patternType !== 'MATCH' && f.patternType !== b.patternType) return false;
  if (f.resourceName === null) return true;
  if (f.patternType === 'ANY' || f.patternType === b.patternType) return f.resourceName === b.resourceName;
  if (b.patternType === 'LITERAL') return f.resourceName === b.resourceName || b.resourceName === aclWildcard;
  return f.resourceName.startsWith(b.resourceName);
}

/** Kafka's AclBindingFilter.matches. */
export function aclFilterMatches(f: AclFilter, b: AclBinding): boolean {
  if (!patternMatches(f, b)) return false;
  if (f.principal !== null && f.principal !== b.principal) return false;
  if (f.host !== null && f.host !== b.host) return false;
  if (f.operation !== 'ANY' && f.operation !== b.operation) return false;
  return f.permission === 'ANY' || f.permission === b.permission;
}

/** The identity of a binding: creating one that exists changes nothing. */
export function aclBindingKey(b: AclBinding): string {
  const { resourceType, patternType, resourceName, principal, host, operation, permission } = b;
  return [resourceType, patternType, resourceName, principal, host, operation, permission].join('\u0000');
}
