/**
 * Handlers of the policy and limit commands (./policy-commands.ts). A change to a policy is recorded
 * first, then applied to the vhost's queues, streams and exchanges, so what runs never differs from
 * what a restart would restore.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import { type PolicyFamily, validatePolicy } from '../policy/definition.js';
import {
  reached,
  userChannelsRefused,
  userConnectionsRefused,
  userLimitNames,
  validateLimit,
  vhostConnectionsRefused,
  vhostLimitNames,
} from '../policy/limits.js';
import type { ConnectionDescription } from '../views.js';
import type { CallerContext } from './context.js';
import type { HandlerHost, Handlers } from './handler-host.js';

async function changed(host: HandlerHost, vhost: string, change: Promise<unknown>): Promise<void> {
  await change;
  host.openVhost(vhost)?.applyPolicies();
}

function userExists(host: HandlerHost, user: string): void {
  if (!host.users.names().includes(user)) {
    throw brokerError(ErrorCode.notFound, `No user '${user}'`);
  }
}

function without<T extends object>(limits: T, name: string): T {
  const { [name]: _gone, ...rest } = limits as Record<string, unknown>;
  return rest as T;
}

function openConnection(host: HandlerHost, ctx: CallerContext, description?: ConnectionDescription): void {
  const { user } = ctx.principal;
  const counts = host.connections;
  if (counts.has(ctx.connectionId)) return;
  const store = host.definitions.policies;
  const vhostLimit = store.vhostLimits(ctx.vhost)['max-connections'];
  if (reached(vhostLimit, counts.vhostConnections(ctx.vhost))) {
    throw vhostConnectionsRefused(ctx.vhost, user, vhostLimit!);
  }
  const userLimit = store.userLimits(user)['max-connections'];
  if (reached(userLimit, counts.userConnections(user))) throw userConnectionsRefused(user, userLimit!);
  counts.open(ctx.connectionId, ctx.vhost, user, ctx.protocol, description);
}

function openChannel(host: HandlerHost, ctx: CallerContext): void {
  const { user } = ctx.principal;
  const limit = host.definitions.policies.userLimits(user)['max-channels'];
  if (reached(limit, host.connections.userChannels(user))) throw userChannelsRefused(user, limit!);
  host.connections.openChannel(ctx.connectionId, user);
}

const family = (c: { family: PolicyFamily }): PolicyFamily => c.family;

export const policyHandlers = {
  'policy.list': (host, ctx, c) => {
    host.vhost(ctx.vhost);
    return [...host.definitions.policies.list(ctx.vhost, family(c))];
  },
  'policy.put': async (host, ctx, c) => {
    host.vhost(ctx.vhost);
    const policy = validatePolicy(c.name, c.input, c.family);
    await changed(host, ctx.vhost, host.definitions.policies.put(ctx.vhost, c.family, policy));
    return policy;
  },
  'policy.delete': async (host, ctx, c) => {
    const deleted = host.definitions.policies.delete(ctx.vhost, c.family, c.name);
    await changed(host, ctx.vhost, deleted);
    return deleted;
  },
  'policy.applied': (host, ctx, c) => host.vhost(ctx.vhost).appliedPolicies(c.objects, c.names),
  'limits.vhost': (host, ctx) => {
    host.vhost(ctx.vhost);
    return { ...host.definitions.policies.vhostLimits(ctx.vhost) };
  },
  'limits.setVhost': (host, ctx, c) => {
    host.vhost(ctx.vhost);
    const value = validateLimit(vhostLimitNames, c.name, c.value);
    const store = host.definitions.policies;
    return store.setVhostLimits(ctx.vhost, { ...store.vhostLimits(ctx.vhost), [c.name]: value });
  },
  'limits.clearVhost': async (host, ctx, c) => {
    const store = host.definitions.policies;
    const limits = store.vhostLimits(ctx.vhost);
    if (!(c.name in limits)) return false;
    await store.setVhostLimits(ctx.vhost, without(limits, c.name));
    return true;
  },
  'limits.users': (host) => host.definitions.policies.allUserLimits(),
  'limits.setUser': (host, _ctx, c) => {
    userExists(host, c.user);
    const value = validateLimit(userLimitNames, c.name, c.value);
    const store = host.definitions.policies;
    return store.setUserLimits(c.user, { ...store.userLimits(c.user), [c.name]: value });
  },
  'limits.clearUser': async (host, _ctx, c) => {
    const store = host.definitions.policies;
    const limits = store.userLimits(c.user);
    if (!(c.name in limits)) return false;
    await store.setUserLimits(c.user, without(limits, c.name));
    return true;
  },
  'connection.open': (host, ctx, c) => openConnection(host, ctx, c.description),
  'channel.open': (host, ctx) => openChannel(host, ctx),
  'channel.close': (host, ctx) => host.connections.closeChannel(ctx.connectionId, ctx.principal.user),
} satisfies Partial<Handlers>;
