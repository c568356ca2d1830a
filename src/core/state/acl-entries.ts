/**
 * ACL bindings (../acls.ts) as entries of the definitions log (./defs-entries.ts delegates these entry
 * types here): `acl.put` and `acl.delete`, each carrying the whole binding in Kafka's words. ACLs name
 * principals, not users, so they outlive the users they name, as in Kafka.
 */
import {
  type AclBinding,
  aclBindingKey,
  aclBindingProblem,
  aclOperations,
  aclPatternTypes,
  aclPermissions,
  aclResourceTypes,
} from '../acls.js';
import { corrupt, type Fields, type Json } from './json.js';

export interface AclState {
  /** By `aclBindingKey`. */
  readonly acls: Map<string, AclBinding>;
}

export type AclEntry =
  | { readonly type: 'acl.put'; readonly binding: AclBinding }
  | { readonly type: 'acl.delete'; readonly binding: AclBinding };

export function emptyAclState(): AclState {
  return { acls: new Map() };
}

export function isAclEntry(entry: { readonly type: string }): entry is AclEntry {
  return entry.type === 'acl.put' || entry.type === 'acl.delete';
}

export function applyAclEntry(state: AclState, entry: AclEntry): void {
  if (entry.type === 'acl.put') state.acls.set(aclBindingKey(entry.binding), entry.binding);
  else state.acls.delete(aclBindingKey(entry.binding));
}

export function* snapshotAcls(state: AclState): Iterable<AclEntry> {
  for (const binding of state.acls.values()) yield { type: 'acl.put', binding };
}

export function encodeAclEntry(entry: AclEntry): Json {
  return { t: entry.type, ...entry.binding };
}

function word<T extends string>(f: Fields, key: string, words: readonly T[]): T {
  const value = f.str(key);
  if (!(words as readonly string[]).includes(value)) throw corrupt(`ACL ${key} '${value}'`);
  return value as T;
}

/** A stored binding is checked as one coming in is: one that would be refused is corrupt. */
export function decodeAclEntry(type: AclEntry['type'], f: Fields): AclEntry {
  const binding: AclBinding = {
    resourceType: word(f, 'resourceType', aclResourceTypes),
    resourceName: f.str('resourceName'),
    patternType: word(f, 'patternType', aclPatternTypes),
    principal: f.str('principal'),
    host: f.str('host'),
    operation: word(f, 'operation', aclOperations),
    permission: word(f, 'permission', aclPermissions),
  };
  const problem = aclBindingProblem(binding);
  if (problem !== undefined) throw corrupt(`ACL binding: ${problem}`);
  return { type, binding };
}
