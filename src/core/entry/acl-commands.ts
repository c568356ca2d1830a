/**
 * Command kinds for Kafka's ACL bindings (merged into `CommandSpecs`, ./commands.ts), their handlers,
 * and the client methods that issue them (`AclClient`, part of `CoreClient`). Listing, creating and
 * deleting bindings need the `administrator` tag; `acl.authorize` asks core's decision for the caller
 * acting as a Kafka principal (./authorize.ts decides: super users, the caller's permissions, then the
 * bindings).
 */
import type { AclRequester } from '../acl-index.js';
import type { AclAction, AclBinding, AclFilter, AclOperation, AclResourceType } from '../acls.js';
import type { Handlers } from './handlers.js';

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

export const aclHandlers = {
  'acl.list': (host, _ctx, c) => host.definitions.acls.list(c.filter),
  'acl.create': (host, _ctx, c) => host.definitions.acls.create(c.bindings),
  'acl.delete': (host, _ctx, c) => host.definitions.acls.delete(c.filters),
  'acl.authorize': (host, ctx, c) => host.authorizeAcl(ctx, c.who, c.action),
  'acl.authorizeSome': (host, ctx, c) => host.authorizeAclSome(ctx, c.who, c.resourceType, c.operation),
} satisfies Partial<Handlers>;

/** The `CoreClient` methods for ACLs (./client.ts implements them). */
export interface AclClient {
  listAcls(filter?: AclFilter): AclBinding[];
  createAcls(bindings: readonly AclBinding[]): Promise<void>;
  deleteAcls(filters: readonly AclFilter[]): Promise<AclBinding[][]>;
  authorizeAcl(who: AclRequester, action: AclAction): boolean;
  authorizeAclSome(
    who: AclRequester,
    resourceType: AclResourceType,
    operation: Exclude<AclOperation, 'ALL'>,
  ): boolean;
}
