/**
 * Policy and limit routes in RabbitMQ's management API shapes:
 *
 *   GET                /api/policies[/{vhost}[/{name}]]          (and /api/operator-policies)
 *   PUT, DELETE        /api/policies/{vhost}/{name}              body {pattern, definition, priority, apply-to}
 *   GET                /api/vhost-limits[/{vhost}]               [{vhost, value: {max-connections, max-queues}}]
 *   PUT, DELETE        /api/vhost-limits/{vhost}/{name}          body {value}
 *   GET                /api/user-limits[/{user}]                 [{user, value: {max-connections, max-channels}}]
 *   PUT, DELETE        /api/user-limits/{user}/{name}            body {value}
 *
 * Validation is core's; its refusals come back as 400 `bad_request` with core's (RabbitMQ's) text.
 */
import type { CoreClient } from '../core/api.js';
import { type Policy, type PolicyFamily, policyToJson } from '../core/policy/definition.js';
import { HttpError } from './errors.js';

export type AdminReply = { status: number; body: unknown };

const families: Readonly<Record<string, PolicyFamily>> = {
  policies: 'policy',
  'operator-policies': 'operator',
};

const resources: ReadonlySet<string> = new Set([...Object.keys(families), 'vhost-limits', 'user-limits']);

/** `/api/<resource>/…` is a policy or limit route (./http.ts bounds their bodies tighter). */
export function isPolicyResource(resource: string | undefined): boolean {
  return resource !== undefined && resources.has(resource);
}

const noContent: AdminReply = { status: 204, body: undefined };

function notFound(what: string): HttpError {
  return new HttpError(404, 'not_found', `Object Not Found: ${what}`);
}

function withVhost(vhost: string, policy: Policy): Record<string, unknown> {
  return { vhost, ...policyToJson(policy) };
}

function vhostsOf(core: CoreClient, vhost: string | undefined): string[] {
  const all = core.vhostNames();
  if (vhost === undefined) return all;
  if (!all.includes(vhost)) throw notFound(`vhost ${vhost}`);
  return [vhost];
}

function objectOf(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'bad_request', 'The body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

async function policies(
  method: string,
  family: PolicyFamily,
  args: { vhost?: string; name?: string },
  body: unknown,
  core: CoreClient,
): Promise<AdminReply> {
  const { vhost, name } = args;
  if (method === 'GET') {
    const rows = vhostsOf(core, vhost).flatMap((v) =>
      core
        .inVhost(v)
        .listPolicies(family)
        .map((p) => withVhost(v, p)),
    );
    if (name === undefined) return { status: 200, body: rows };
    const row = rows.find((r) => r['name'] === name);
    if (row === undefined) throw notFound(`policy ${name}`);
    return { status: 200, body: row };
  }
  if (vhost === undefined || name === undefined) throw methodNotAllowed(method);
  const client = core.inVhost(vhostsOf(core, vhost)[0]!);
  if (method === 'DELETE') {
    if (!(await client.deletePolicy(family, name))) throw notFound(`policy ${name}`);
    return noContent;
  }
  const existed = client.listPolicies(family).some((p) => p.name === name);
  await client.putPolicy(family, name, objectOf(body));
  return existed ? noContent : { status: 201, body: undefined };
}

async function vhostLimits(
  method: string,
  args: { vhost?: string; name?: string },
  body: unknown,
  core: CoreClient,
): Promise<AdminReply> {
  const { vhost, name } = args;
  if (method === 'GET' && name === undefined) {
    const rows = vhostsOf(core, vhost)
      .map((v) => ({ vhost: v, value: core.inVhost(v).vhostLimits() }))
      .filter((row) => Object.keys(row.value).length > 0);
    return { status: 200, body: rows };
  }
  if (vhost === undefined || name === undefined || method === 'GET') throw methodNotAllowed(method);
  const client = core.inVhost(vhostsOf(core, vhost)[0]!);
  if (method === 'DELETE') {
    if (!(await client.clearVhostLimit(name))) throw notFound(`limit ${name}`);
    return noContent;
  }
  await client.setVhostLimit(name, objectOf(body)['value']);
  return noContent;
}

async function userLimits(
  method: string,
  args: { user?: string; name?: string },
  body: unknown,
  core: CoreClient,
): Promise<AdminReply> {
  const { user, name } = args;
  if (method === 'GET' && name === undefined) {
    const rows = core
      .userLimits()
      .filter((row) => user === undefined || row.user === user)
      .map((row) => ({ user: row.user, value: row.limits }));
    return { status: 200, body: rows };
  }
  if (user === undefined || name === undefined || method === 'GET') throw methodNotAllowed(method);
  if (method === 'DELETE') {
    if (!(await core.clearUserLimit(user, name))) throw notFound(`limit ${name}`);
    return noContent;
  }
  await core.setUserLimit(user, name, objectOf(body)['value']);
  return noContent;
}

function methodNotAllowed(method: string): HttpError {
  return new HttpError(405, 'method_not_allowed', `${method} is not supported here`);
}

/**
 * Answers one request on a policy or limit path: `parts` are the decoded segments after `/api`.
 * Undefined: not a route of this module, for the caller to answer.
 */
export function policyRoutes(
  core: CoreClient,
  method: string,
  parts: readonly string[],
  body: unknown,
): Promise<AdminReply> | undefined {
  const [resource, ...rest] = parts;
  if (resource === undefined || !resources.has(resource)) return undefined;
  if (rest.length > 2) return Promise.reject(notFound(resource));
  const [scope, name] = rest;
  const family = families[resource];
  if (family !== undefined) {
    return policies(method, family, { ...opt('vhost', scope), ...opt('name', name) }, body, core);
  }
  if (resource === 'vhost-limits') {
    return vhostLimits(method, { ...opt('vhost', scope), ...opt('name', name) }, body, core);
  }
  return userLimits(method, { ...opt('user', scope), ...opt('name', name) }, body, core);
}

function opt<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}
