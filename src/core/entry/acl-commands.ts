/**
 * Command kinds for Kafka's ACL bindings (merged into `CommandSpecs`, ./commands.ts); their handlers
 * are ./acl-handlers.ts, and the client methods that issue them `AclClient` (../api.ts, part of
 * `CoreClient`). Listing, creating and deleting bindings need the `administrator` tag; `acl.authorize`
 * asks core's decision for the caller acting as a Kafka principal (./authorize.ts decides: super users,
 * the caller's permissions, then the bindings).
 */
import type { AclRequester } from '../acl-index.js';
import type { AclAction, AclBinding, AclFilter, AclOperation, AclResourceType } from '../acls.js';

export interface AclCommandSpecs {
  'acl.list': { in: { filter: AclFilter }; out: AclBinding[] };
  /** Creates each binding not already there; all refused (invalidArgument) when one is invalid. */
  'acl.create': { in: { bindings: readonly AclBinding[] }; out: Promise<void> };
  /** Deletes what the filters match; answers, per filter, the bindings it matched. */
  'acl.delete': { in: { filters: readonly AclFilter[] }; out: Promise<AclBinding[][]> };
  /** Whether the caller, as the Kafka principal `who`, may do `action`. */
  'acl.authorize': { in: { who: AclRequester; action: AclAction }; out: boolean };
  /** Whether it may do `operation` on at least one resource of the type (KIP-679). */
  'acl.authorizeSome': {
    in: { who: AclRequester; resourceType: AclResourceType; operation: Exclude<AclOperation, 'ALL'> };
    out: boolean;
  };
}

export const aclQueryKinds = [
  'acl.list',
  'acl.authorize',
  'acl.authorizeSome',
] as const satisfies ReadonlyArray<keyof AclCommandSpecs>;
