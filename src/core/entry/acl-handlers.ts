/** Handlers of the ACL commands (./acl-commands.ts): the definitions' ACL store and core's decision. */
import type { Handlers } from './handler-host.js';

export const aclHandlers = {
  'acl.list': (host, _ctx, c) => host.definitions.acls.list(c.filter),
  'acl.create': (host, _ctx, c) => host.definitions.acls.create(c.bindings),
  'acl.delete': (host, _ctx, c) => host.definitions.acls.delete(c.filters),
  'acl.authorize': (host, ctx, c) => host.authorizeAcl(ctx, c.who, c.action),
  'acl.authorizeSome': (host, ctx, c) => host.authorizeAclSome(ctx, c.who, c.resourceType, c.operation),
} satisfies Partial<Handlers>;
