/**
 * `switchyard kafka-acls list|add|delete …`: Kafka's ACL bindings of a running broker, through its
 * admin API (`/api/kafka/acls`; `--url` or SWITCHYARD_URL, the login SWITCHYARD_USER /
 * SWITCHYARD_PASSWORD or `--password`, as the policy commands). Words follow kafka-acls.sh: `add`
 * takes `--allow-principal` or `--deny-principal`, `--operation` (repeatable), and one resource
 * (`--topic`, `--group`, `--cluster`, `--transactional-id`); `delete` takes the same as a filter, where
 * what is left out matches everything. Tables for people, `--json` for scripts.
 */
import { parseArgs } from 'node:util';
import {
  call,
  exit,
  type Io,
  report,
  resolveTarget,
  type Target,
  table,
  targetOptions,
  UsageError,
} from './client.js';

export const kafkaAclUsage = [
  'switchyard kafka-acls list [--json]',
  'switchyard kafka-acls add (--allow-principal P | --deny-principal P) --operation OP [--operation OP…]',
  '    (--topic T | --group G | --cluster | --transactional-id ID) [--resource-pattern-type literal|prefixed] [--host H]',
  'switchyard kafka-acls delete [the same options, each narrowing the filter]',
].join('\n');

const optionSpec = {
  ...targetOptions,
  json: { type: 'boolean' },
  'allow-principal': { type: 'string' },
  'deny-principal': { type: 'string' },
  principal: { type: 'string' },
  operation: { type: 'string', multiple: true },
  topic: { type: 'string' },
  group: { type: 'string' },
  cluster: { type: 'boolean' },
  'transactional-id': { type: 'string' },
  'resource-pattern-type': { type: 'string' },
  host: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof optionSpec; allowPositionals: true }>>['values'];

const columns = [
  'resource_type',
  'resource_name',
  'pattern_type',
  'principal',
  'host',
  'operation',
  'permission',
];

/** The resource named by the options, or none (a filter on every resource). */
function resourceOf(o: Values): { resource_type: string; resource_name: string } | undefined {
  const named = [
    o.topic === undefined ? undefined : { resource_type: 'TOPIC', resource_name: o.topic },
    o.group === undefined ? undefined : { resource_type: 'GROUP', resource_name: o.group },
    o.cluster === true ? { resource_type: 'CLUSTER', resource_name: 'kafka-cluster' } : undefined,
    o['transactional-id'] === undefined
      ? undefined
      : { resource_type: 'TRANSACTIONAL_ID', resource_name: o['transactional-id'] },
  ].filter((r) => r !== undefined);
  if (named.length > 1) throw new UsageError('name one resource');
  return named[0];
}

function principalOf(o: Values): { principal?: string; permission?: string } {
  if (o['allow-principal'] !== undefined && o['deny-principal'] !== undefined)
    throw new UsageError('give --allow-principal or --deny-principal, not both');
  if (o['allow-principal'] !== undefined) return { principal: o['allow-principal'], permission: 'ALLOW' };
  if (o['deny-principal'] !== undefined) return { principal: o['deny-principal'], permission: 'DENY' };
  return o.principal === undefined ? {} : { principal: o.principal };
}

async function add(o: Values, target: Target, io: Io): Promise<void> {
  const resource = resourceOf(o);
  const who = principalOf(o);
  const operations = o.operation ?? [];
  if (
    resource === undefined ||
    who.principal === undefined ||
    who.permission === undefined ||
    operations.length === 0
  )
    throw new UsageError('add needs a resource, --allow-principal or --deny-principal, and --operation');
  const rows = operations.map((operation) => ({
    ...resource,
    pattern_type: o['resource-pattern-type'] ?? 'LITERAL',
    principal: who.principal,
    host: o.host ?? '*',
    operation,
    permission: who.permission,
  }));
  await call(target, 'POST', '/api/kafka/acls', rows);
  io.out(
    `Adding ACLs for resource \`${resource.resource_type}:${resource.resource_name}\`: ${operations.join(', ')}\n`,
  );
}

async function remove(o: Values, target: Target, io: Io): Promise<void> {
  const resource = resourceOf(o);
  const who = principalOf(o);
  const operations = o.operation ?? ['ANY'];
  let deleted = 0;
  for (const operation of operations) {
    const filter = {
      ...resource,
      ...(o['resource-pattern-type'] === undefined ? {} : { pattern_type: o['resource-pattern-type'] }),
      ...who,
      ...(o.host === undefined ? {} : { host: o.host }),
      operation,
    };
    const rows = (await call(target, 'DELETE', '/api/kafka/acls', filter)) as unknown[];
    deleted += rows.length;
  }
  io.out(`Deleted ${deleted} ACL binding${deleted === 1 ? '' : 's'}\n`);
}

/** Runs `switchyard kafka-acls …`; returns the exit code. */
export async function runKafkaAclCommand(argv: readonly string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: optionSpec,
      allowPositionals: true,
    });
    const target = resolveTarget(values, io.env);
    const [verb, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected words: ${extra.join(' ')}`);
    if (verb === 'list') {
      const rows = (await call(target, 'GET', '/api/kafka/acls')) as Array<Record<string, string>>;
      io.out(
        values.json
          ? `${JSON.stringify(rows)}\n`
          : table([columns, ...rows.map((r) => columns.map((c) => r[c] ?? ''))]),
      );
    } else if (verb === 'add') await add(values, target, io);
    else if (verb === 'delete') await remove(values, target, io);
    else throw new UsageError(`unknown or incomplete command: kafka-acls ${argv.join(' ')}`);
    return exit.ok;
  } catch (err) {
    return report(err, io, kafkaAclUsage);
  }
}
