/**
 * Policies, operator policies, vhost limits and user limits as entries of the definitions log
 * (./defs-entries.ts delegates these entry types here). Policies and vhost limits belong to a vhost
 * and go with it; user limits go with their user.
 */
import { type Policy, type PolicyFamily, validatePolicy } from '../policy/definition.js';
import type { UserLimits, VhostLimits } from '../policy/limits.js';
import { corrupt, type Fields, type Json } from './json.js';

export interface VhostPolicies {
  readonly policy: Map<string, Policy>;
  readonly operator: Map<string, Policy>;
  limits: VhostLimits;
}

export interface PolicyState {
  /** By vhost. */
  readonly policies: Map<string, VhostPolicies>;
  /** By user. */
  readonly userLimits: Map<string, UserLimits>;
}

export type PolicyEntry =
  | {
      readonly type: 'policy.put';
      readonly vhost: string;
      readonly family: PolicyFamily;
      readonly policy: Policy;
    }
  | {
      readonly type: 'policy.delete';
      readonly vhost: string;
      readonly family: PolicyFamily;
      readonly name: string;
    }
  | { readonly type: 'vhostLimits.set'; readonly vhost: string; readonly limits: VhostLimits }
  | { readonly type: 'userLimits.set'; readonly user: string; readonly limits: UserLimits };

const policyTypes: ReadonlySet<string> = new Set([
  'policy.put',
  'policy.delete',
  'vhostLimits.set',
  'userLimits.set',
]);

export function emptyPolicyState(): PolicyState {
  return { policies: new Map(), userLimits: new Map() };
}

function vhostPolicies(state: PolicyState, vhost: string): VhostPolicies {
  let found = state.policies.get(vhost);
  if (found === undefined) {
    found = { policy: new Map(), operator: new Map(), limits: {} };
    state.policies.set(vhost, found);
  }
  return found;
}

/** Applies a policy entry, and forgets what a deleted vhost or user had. */
export function applyPolicyEntry(
  state: PolicyState,
  entry: { readonly type: string; readonly vhost?: string; readonly name?: string },
): void {
  if (entry.type === 'vhost.delete' && entry.vhost !== undefined) state.policies.delete(entry.vhost);
  if (entry.type === 'user.delete' && entry.name !== undefined) state.userLimits.delete(entry.name);
  if (!policyTypes.has(entry.type)) return;
  const e = entry as PolicyEntry;
  switch (e.type) {
    case 'policy.put':
      vhostPolicies(state, e.vhost)[e.family].set(e.policy.name, e.policy);
      return;
    case 'policy.delete':
      state.policies.get(e.vhost)?.[e.family].delete(e.name);
      return;
    case 'vhostLimits.set':
      vhostPolicies(state, e.vhost).limits = e.limits;
      return;
    case 'userLimits.set':
      if (Object.keys(e.limits).length === 0) state.userLimits.delete(e.user);
      else state.userLimits.set(e.user, e.limits);
      return;
  }
}

export function* snapshotPolicies(state: PolicyState): Iterable<PolicyEntry> {
  for (const [vhost, policies] of state.policies) {
    for (const family of ['policy', 'operator'] as const) {
      for (const policy of policies[family].values()) yield { type: 'policy.put', vhost, family, policy };
    }
    if (Object.keys(policies.limits).length > 0) {
      yield { type: 'vhostLimits.set', vhost, limits: policies.limits };
    }
  }
  for (const [user, limits] of state.userLimits) yield { type: 'userLimits.set', user, limits };
}

function policyToJson(policy: Policy): Json {
  return {
    name: policy.name,
    pattern: policy.pattern,
    applyTo: policy.applyTo,
    priority: policy.priority,
    // Kept as text: the definition is validated whole when read back.
    definition: JSON.stringify(policy.definition),
  };
}

function limitsToJson(limits: VhostLimits | UserLimits): Json {
  return { ...limits } as Json;
}

export function encodePolicyEntry(entry: PolicyEntry): Json {
  switch (entry.type) {
    case 'policy.put':
      return { t: entry.type, vhost: entry.vhost, family: entry.family, policy: policyToJson(entry.policy) };
    case 'policy.delete':
      return { t: entry.type, vhost: entry.vhost, family: entry.family, name: entry.name };
    case 'vhostLimits.set':
      return { t: entry.type, vhost: entry.vhost, limits: limitsToJson(entry.limits) };
    case 'userLimits.set':
      return { t: entry.type, user: entry.user, limits: limitsToJson(entry.limits) };
  }
}

function familyOf(f: Fields): PolicyFamily {
  const family = f.str('family');
  if (family !== 'policy' && family !== 'operator') throw corrupt(`policy family '${family}'`);
  return family;
}

function parseDefinition(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw corrupt('policy definition that is not JSON');
  }
}

/** A stored policy is checked as one coming in is: a record that would not validate is corrupt. */
function policyFromJson(f: Fields, family: PolicyFamily): Policy {
  const name = f.str('name');
  const raw = {
    pattern: f.str('pattern'),
    'apply-to': f.str('applyTo'),
    priority: f.num('priority'),
    definition: parseDefinition(f.str('definition')),
  };
  try {
    return validatePolicy(name, raw, family);
  } catch {
    throw corrupt(`policy '${name}'`);
  }
}

function limitsFromJson(f: Fields, names: readonly string[]): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const name of names) if (f.has(name)) limits[name] = f.num(name);
  return limits;
}

export function decodePolicyEntry(type: string, f: Fields): PolicyEntry {
  switch (type) {
    case 'policy.put': {
      const family = familyOf(f);
      return { type, vhost: f.str('vhost'), family, policy: policyFromJson(f.fields('policy'), family) };
    }
    case 'policy.delete':
      return { type, vhost: f.str('vhost'), family: familyOf(f), name: f.str('name') };
    case 'vhostLimits.set':
      return {
        type,
        vhost: f.str('vhost'),
        limits: limitsFromJson(f.fields('limits'), ['max-connections', 'max-queues']),
      };
    case 'userLimits.set':
      return {
        type,
        user: f.str('user'),
        limits: limitsFromJson(f.fields('limits'), ['max-connections', 'max-channels']),
      };
    default:
      throw corrupt(`definitions entry type '${type}'`);
  }
}
