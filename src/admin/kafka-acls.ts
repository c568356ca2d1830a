/**
 * Kafka's ACL bindings over HTTP, an extension of RabbitMQ's API (docs/security.md): `GET
 * /api/kafka/acls` lists them, `POST` creates one binding or a list of them (201), `DELETE` with a
 * filter as its body deletes what it matches and answers those. Rows use Kafka's words in snake_case
 * fields: `resource_type` (TOPIC, GROUP, CLUSTER, TRANSACTIONAL_ID), `resource_name`, `pattern_type`
 * (LITERAL, PREFIXED; filters also ANY, MATCH), `principal`, `host`, `operation`, `permission` (ALLOW,
 * DENY). Core allows these to administrators only. The same rows are the `kafka_acls` section of the
 * definitions file.
 */
import type { AclBinding, AclFilter, CoreClient } from '../core/api.js';
import { HttpError } from './errors.js';
import type { Json } from './json.js';

type Row = Record<string, unknown>;
type JsonObject = { readonly [key: string]: Json };

export function aclJson(b: AclBinding): JsonObject {
  return {
    resource_type: b.resourceType,
    resource_name: b.resourceName,
    pattern_type: b.patternType,
    principal: b.principal,
    host: b.host,
    operation: b.operation,
    permission: b.permission,
  };
}

function badRequest(reason: string): never {
  throw new HttpError(400, 'bad_request', reason);
}

function rowsOf(body: Json | undefined): Row[] {
  const list = Array.isArray(body) ? body : [body];
  return list.map((row) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) badRequest('An ACL is a JSON object');
    return row as Row;
  });
}

/** A field given as text, `fallback` when absent; anything else is refused. */
function text(row: Row, key: string, fallback?: string | null): string | null {
  const value = row[key];
  if (value === undefined || value === null) {
    if (fallback === undefined) badRequest(`'${key}' is required`);
    return fallback;
  }
  if (typeof value !== 'string') badRequest(`'${key}' must be a string`);
  return value;
}

function upper(row: Row, key: string, fallback?: string): string {
  return (text(row, key, fallback) ?? '').toUpperCase();
}

/** A binding as sent; its words and values are checked by core (400 with Kafka's text). */
function bindingOf(row: Row): AclBinding {
  return {
    resourceType: upper(row, 'resource_type') as AclBinding['resourceType'],
    resourceName: text(row, 'resource_name') ?? '',
    patternType: upper(row, 'pattern_type', 'LITERAL') as AclBinding['patternType'],
    principal: text(row, 'principal') ?? '',
    host: text(row, 'host', '*') ?? '*',
    operation: upper(row, 'operation') as AclBinding['operation'],
    permission: upper(row, 'permission', 'ALLOW') as AclBinding['permission'],
  };
}

/** A filter's word; core refuses one Kafka does not have. */
function word(row: Row, key: string): string {
  return upper(row, key, 'ANY');
}

/** A filter: a field left out matches everything. */
function filterOf(row: Row): AclFilter {
  return {
    resourceType: word(row, 'resource_type') as AclFilter['resourceType'],
    resourceName: text(row, 'resource_name', null),
    patternType: word(row, 'pattern_type') as AclFilter['patternType'],
    principal: text(row, 'principal', null),
    host: text(row, 'host', null),
    operation: word(row, 'operation') as AclFilter['operation'],
    permission: word(row, 'permission') as AclFilter['permission'],
  };
}

/** Creates the bindings a definitions file's `kafka_acls` section names. */
export async function importAcls(core: CoreClient, section: unknown): Promise<void> {
  if (section === undefined) return;
  if (!Array.isArray(section)) badRequest("'kafka_acls' must be a list");
  await core.createAcls(rowsOf(section as Json).map(bindingOf));
}

/** `/api/kafka/acls`; undefined when `parts` (after `/api`) name another route. */
export async function kafkaAclRoutes(
  core: CoreClient,
  method: string,
  parts: readonly string[],
  body: Json | undefined,
): Promise<{ status: number; body: Json | undefined } | undefined> {
  if (parts.length !== 2 || parts[0] !== 'kafka' || parts[1] !== 'acls') return undefined;
  switch (method) {
    case 'GET':
      return { status: 200, body: core.listAcls().map(aclJson) };
    case 'POST':
      await core.createAcls(rowsOf(body).map(bindingOf));
      return { status: 201, body: undefined };
    case 'DELETE': {
      const [deleted] = await core.deleteAcls([filterOf(rowsOf(body ?? {})[0] ?? {})]);
      return { status: 200, body: (deleted ?? []).map(aclJson) };
    }
    default:
      return undefined;
  }
}
