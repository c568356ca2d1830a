/**
 * `switchyard policies|operator-policies|limits …`: policies and limits of a running broker, through
 * its admin API (`--url`, or SWITCHYARD_URL; default http://127.0.0.1:15672). Words follow
 * rabbitmqctl's `set_policy` / `clear_policy` / `list_policies` / `set_vhost_limits`. Tables for
 * people, `--json` for scripts; errors are one `switchyard: …` line and exit 1, usage mistakes exit 2.
 */
import { parseArgs } from 'node:util';

export const policyUsage = [
  'switchyard policies list [--vhost V] [--json]',
  'switchyard policies set NAME PATTERN DEFINITION-JSON [--priority N] [--apply-to queues|classic_queues|quorum_queues|streams|exchanges|all] [--vhost V]',
  'switchyard policies clear NAME [--vhost V]',
  '  (operator-policies: the same words)',
  'switchyard limits list [--vhost V | --user U] [--json]',
  'switchyard limits set (--vhost V | --user U) NAME VALUE',
  'switchyard limits clear (--vhost V | --user U) NAME',
  '  options: --url URL (or SWITCHYARD_URL), default http://127.0.0.1:15672; the login is',
  '    SWITCHYARD_USER (default guest) with --password or SWITCHYARD_PASSWORD (default guest)',
].join('\n');

export const code = { ok: 0, failed: 1, usage: 2 } as const;

export class UsageError extends Error {}

export interface Io {
  readonly env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
}

const optionSpec = {
  vhost: { type: 'string' },
  user: { type: 'string' },
  url: { type: 'string' },
  password: { type: 'string' },
  priority: { type: 'string' },
  'apply-to': { type: 'string' },
  json: { type: 'boolean' },
} as const;

type Options = {
  [K in keyof typeof optionSpec]?: (typeof optionSpec)[K]['type'] extends 'boolean' ? boolean : string;
};

/** The broker's admin API and the login to it (HTTP Basic). */
export interface Target {
  readonly url: string;
  readonly authorization: string;
}

export async function call(target: Target, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { authorization: target.authorization };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(target.url + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const json = text === '' ? undefined : (JSON.parse(text) as unknown);
  if (!res.ok) {
    const reason = (json as { reason?: string } | undefined)?.reason ?? res.statusText;
    throw new Error(reason.replace(/\s+/g, ' ').trim());
  }
  return json;
}

/** Columns padded to their widest cell; the first row is the heading. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return `${rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

const enc = encodeURIComponent;

async function policies(resource: string, words: string[], o: Options, base: Target, io: Io): Promise<void> {
  const [verb, name, pattern, definition] = words;
  const vhost = o.vhost ?? '/';
  if (verb === 'list') {
    const rows = (await call(base, 'GET', `/api/${resource}/${enc(vhost)}`)) as Array<
      Record<string, unknown>
    >;
    if (o.json) return io.out(`${JSON.stringify(rows)}\n`);
    const cells = rows.map((r) =>
      ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'].map((k) =>
        typeof r[k] === 'string' ? (r[k] as string) : JSON.stringify(r[k]),
      ),
    );
    return io.out(table([['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'], ...cells]));
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
    return io.out(table([[key, 'limits'], ...rows.map((r) => [String(r[key]), JSON.stringify(r['value'])])]));
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

/** The admin API from `--url` or SWITCHYARD_URL, and the login from the environment (or `--password`). */
export function targetOf(values: { url?: string; password?: string }, env: NodeJS.ProcessEnv): Target {
  const url = (values.url ?? env['SWITCHYARD_URL'] ?? 'http://127.0.0.1:15672').replace(/\/$/, '');
  const login = `${env['SWITCHYARD_USER'] ?? 'guest'}:${values.password ?? env['SWITCHYARD_PASSWORD'] ?? 'guest'}`;
  return { url, authorization: `Basic ${Buffer.from(login).toString('base64')}` };
}

/** Reports a failed command (with `usage` after a usage mistake); returns its exit code. */
export function failure(err: unknown, io: Io, usage: string): number {
  const message = err instanceof Error ? err.message : String(err);
  io.err(`switchyard: ${message}\n`);
  const isUsage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (isUsage) io.err(`${usage}\n`);
  return isUsage ? code.usage : code.failed;
}

/** Runs `switchyard <command> …` for policies, operator-policies and limits; returns the exit code. */
export async function runPolicyCommand(command: string, argv: readonly string[], io: Io): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: optionSpec,
      allowPositionals: true,
    });
    // `--user` names the user whose limits are set; the login comes from the environment.
    const base = targetOf(values, io.env);
    if (command === 'limits') await limits(positionals, values, base, io);
    else await policies(command, positionals, values, base, io);
    return code.ok;
  } catch (err) {
    return failure(err, io, policyUsage);
  }
}
