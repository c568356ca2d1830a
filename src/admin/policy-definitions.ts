/**
 * Policies and limits in RabbitMQ's definitions file, for `GET/POST /api/definitions`: `policies`
 * (one object per policy, with its vhost), operator policies and vhost limits as runtime
 * `parameters` (components `operator_policy` and `vhost-limits`), and user limits as each user's
 * `limits`. Import validates each entry as the policy routes do and stops at the first refusal.
 */
import type { CoreClient } from '../core/api.js';
import { policyToJson } from '../core/policy/definition.js';

export interface PolicySections {
  policies: Array<Record<string, unknown>>;
  parameters: Array<{ vhost: string; component: string; name: string; value: unknown }>;
  /** Per user, what goes into that user's `limits` in the `users` section. */
  userLimits: Record<string, Record<string, number>>;
}

export function exportPolicySections(core: CoreClient): PolicySections {
  const sections: PolicySections = { policies: [], parameters: [], userLimits: {} };
  for (const vhost of core.vhostNames()) {
    const client = core.inVhost(vhost);
    for (const policy of client.listPolicies('policy')) {
      sections.policies.push({ vhost, ...policyToJson(policy) });
    }
    for (const policy of client.listPolicies('operator')) {
      const { name, ...value } = policyToJson(policy);
      sections.parameters.push({ vhost, component: 'operator_policy', name, value });
    }
    const limits = client.vhostLimits();
    if (Object.keys(limits).length > 0) {
      sections.parameters.push({ vhost, component: 'vhost-limits', name: 'limits', value: limits });
    }
  }
  for (const { user, limits } of core.userLimits()) sections.userLimits[user] = { ...limits };
  return sections;
}

type Row = Record<string, unknown>;

function rows(value: unknown): Row[] {
  return Array.isArray(value)
    ? value.filter((row): row is Row => typeof row === 'object' && row !== null)
    : [];
}

const text = (value: unknown, fallback = ''): string => (typeof value === 'string' ? value : fallback);

/** Imports what a definitions file holds of policies and limits; vhosts and users must exist by now. */
export async function importPolicySections(core: CoreClient, file: Row): Promise<void> {
  for (const row of rows(file['policies'])) {
    await core.inVhost(text(row['vhost'], '/')).putPolicy('policy', text(row['name']), row);
  }
  for (const row of rows(file['parameters'])) {
    const client = core.inVhost(text(row['vhost'], '/'));
    const value = row['value'];
    if (row['component'] === 'operator_policy' && typeof value === 'object' && value !== null) {
      await client.putPolicy('operator', text(row['name']), value as Row);
    } else if (row['component'] === 'vhost-limits' && typeof value === 'object' && value !== null) {
      for (const [name, limit] of Object.entries(value)) await client.setVhostLimit(name, limit);
    }
  }
  for (const user of rows(file['users'])) {
    const limits = user['limits'];
    if (typeof limits !== 'object' || limits === null) continue;
    for (const [name, limit] of Object.entries(limits)) {
      await core.setUserLimit(text(user['name']), name, limit);
    }
  }
}
