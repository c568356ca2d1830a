/**
 * `switchyard policies|operator-policies|limits …`: policies and limits of a running broker, through
 * its admin API (`--url`, or SWITCHYARD_URL; default http://127.0.0.1:15672). Words follow
 * rabbitmqctl's `set_policy` / `clear_policy` / `list_policies` / `set_vhost_limits`. Tables for
 * people, `--json` for scripts; errors are one `switchyard: …` line and exit 1, usage mistakes exit 2.
 */
import { parseArgs } from 'node:util';
import {
  call,
  cell,
  enc,
  exit,
  type Io,
  objectTable,
  report,
  resolveTarget,
  type Target,
  table,
  targetOptions,
  UsageError,
} from './client.js';

export const policyUsage = [
  'switchyard policies list [--vhost V] [--json]',
  'switchyard policies set NAME PATTERN DEFINITION-JSON [--priority N] [--apply-to queues|classic_queues|quorum_queues|streams|exchanges|all] [--vhost V]',
  'switchyard policies clear NAME [--vhost V]',
  '  (operator-policies: the same words)',
  'switchyard limits list [--vhost V | --user U] [--json]',
  'switchyard limits set (--vhost V | --user U) NAME VALUE',
  'switchyard limits clear (--vhost V | --user U) NAME',
  '  options: --url URL (or SWITCHYARD_URL), default http://127.0.0.1:15672; --profile, --config as',
  "    for every command; the login is SWITCHYARD_USER or the profile's user (default guest, as --user",
  '    names the user whose limits are meant) with --password or SWITCHYARD_PASSWORD (default guest)',
].join('\n');

const optionSpec = {
  ...targetOptions,
  vhost: { type: 'string' },
  priority: { type: 'string' },
  'apply-to': { type: 'string' },
  json: { type: 'boolean' },
} as const;

type Options = {
  [K in keyof typeof optionSpec]?: (typeof optionSpec)[K]['type'] extends 'boolean' ? boolean : string;
};

async function policies(resource: string, words: string[], o: Options, base: Target, io: Io): Promise<void> {
  const [verb, name, pattern, definition] = words;
  const vhost = o.vhost ?? '/';
  if (verb === 'list') {
    const rows = (await call(base, 'GET', `/api/${resource}/${enc(vhost)}`)) as Array<
      Record<string, unknown>
    >;
    if (o.json) return io.out(`${JSON.stringify(rows)}\n`);
    return io.out(objectTable(rows, ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority']));
  }
  if (verb === 'set' && name !== undefined && pattern !== undefined && definition !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(definition) as unknown;
    } catch {
      throw new UsageError(`the definition is not JSON: ${definition}`);
    }
    const body = {
      pattern,
      definition: parsed,
      priority: o.priority === undefined ? 0 : Number(o.priority),
      'apply-to': o['apply-to'] ?? 'all',
    };
    await call(base, 'PUT', `/api/${resource}/${enc(vhost)}/${enc(name)}`, body);
    return io.out(`Setting policy "${name}" for pattern "${pattern}" in vhost "${vhost}"\n`);
  }
  if (verb === 'clear' && name !== undefined) {
    await call(base, 'DELETE', `/api/${resource}/${enc(vhost)}/${enc(name)}`);
    return io.out(`Clearing policy "${name}" on vhost "${vhost}"\n`);
  }
  throw new UsageError(`unknown or incomplete command: ${resource} ${words.join(' ')}`);
}

async function limits(words: string[], o: Options, base: Target, io: Io): Promise<void> {
  const [verb, name, value] = words;
  if (o.vhost !== undefined && o.user !== undefined) throw new UsageError('give --vhost or --user, not both');
  const [resource, scope] = o.user !== undefined ? ['user-limits', o.user] : ['vhost-limits', o.vhost];
  if (verb === 'list') {
    const path = scope === undefined ? `/api/${resource}` : `/api/${resource}/${enc(scope)}`;
    const rows = (await call(base, 'GET', path)) as Array<Record<string, unknown>>;
    if (o.json) return io.out(`${JSON.stringify(rows)}\n`);
    const key = resource === 'user-limits' ? 'user' : 'vhost';
    return io.out(table([[key, 'limits'], ...rows.map((r) => [cell(r[key]), cell(r['value'])])]));
  }
  if (scope === undefined) throw new UsageError('limits set and clear need --vhost or --user');
  const path = `/api/${resource}/${enc(scope)}/${enc(name ?? '')}`;
  if (verb === 'set' && name !== undefined && value !== undefined) {
    const number = Number(value);
    if (!Number.isInteger(number)) throw new UsageError(`the limit is not an integer: ${value}`);
    await call(base, 'PUT', path, { value: number });
    return io.out(`Setting ${name} to ${number} for ${o.user === undefined ? 'vhost' : 'user'} "${scope}"\n`);
  }
  if (verb === 'clear' && name !== undefined) {
    await call(base, 'DELETE', path);
    return io.out(`Clearing ${name} for ${o.user === undefined ? 'vhost' : 'user'} "${scope}"\n`);
  }
  throw new UsageError(`unknown or incomplete command: limits ${words.join(' ')}`);
}

/** Runs `switchyard <command> …` for policies, operator-policies and limits; returns the exit code. */
export async function runPolicyCommand(command: string, argv: readonly string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: optionSpec,
      allowPositionals: true,
    });
    // `--user` names the user whose limits are set; the login comes from the environment or profile.
    const base = resolveTarget({ ...values, user: undefined }, io.env);
    if (command === 'limits') await limits(positionals, values, base, io);
    else await policies(command, positionals, values, base, io);
    return exit.ok;
  } catch (err) {
    return report(err, io, policyUsage);
  }
}
