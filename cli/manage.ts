/**
 * `switchyard users|permissions|topic-permissions|whoami|definitions …`: management commands, run
 * against a running broker's admin API (HTTP Basic), so they go through the same login and the same
 * authorization as any API client. Where: `--url` (or SWITCHYARD_URL, default
 * http://127.0.0.1:15672); who: `--user` / `--password` (or SWITCHYARD_USER / SWITCHYARD_PASSWORD,
 * default guest/guest, which works from loopback only).
 */
import { Buffer } from 'node:buffer';
import { readFileSync, writeFileSync } from 'node:fs';

export const manageUsage = [
  'switchyard users list | add <name> <password> [tags] | set-password <name> <password> |',
  '                set-tags <name> <tags> | delete <name>',
  'switchyard permissions list [vhost] | set <vhost> <user> <configure> <write> <read> | clear <vhost> <user>',
  'switchyard topic-permissions list [vhost] | set <vhost> <user> <exchange> <write> <read> | clear <vhost> <user>',
  'switchyard whoami',
  'switchyard definitions export [file] | import <file>',
  '  options: --url <admin url> --user <name> --password <password>',
].join('\n');

export const manageCommands: ReadonlySet<string> = new Set([
  'users',
  'permissions',
  'topic-permissions',
  'whoami',
  'definitions',
]);

/** A mistake in the command line: usage on stderr, exit 2. */
export class UsageError extends Error {}

interface Target {
  readonly url: string;
  readonly authorization: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Splits `--url`, `--user`, `--password` (each followed by its value) from the words of the command. */
function parse(args: readonly string[], env: Env): { words: string[]; target: Target } {
  const words: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const name = /^--(url|user|password)$/.exec(arg)?.[1];
    if (name === undefined) {
      words.push(arg);
      continue;
    }
    const value = args[++i];
    if (value === undefined) throw new UsageError(`${arg} needs a value`);
    options[name] = value;
  }
  const url = (options['url'] ?? env['SWITCHYARD_URL'] ?? 'http://127.0.0.1:15672').replace(/\/+$/, '');
  const user = options['user'] ?? env['SWITCHYARD_USER'] ?? 'guest';
  const password = options['password'] ?? env['SWITCHYARD_PASSWORD'] ?? 'guest';
  return {
    words,
    target: { url, authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  };
}

async function call(target: Target, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { authorization: target.authorization };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(`${target.url}${path}`, init);
  const text = await res.text();
  const parsed: unknown = text === '' ? undefined : JSON.parse(text);
  if (!res.ok) {
    const reason = (parsed as { reason?: string } | undefined)?.reason ?? res.statusText;
    throw new Error(`${res.status} ${reason}`);
  }
  return parsed;
}

const seg = encodeURIComponent;

function need(words: readonly string[], count: number, what: string): string[] {
  if (words.length !== count) throw new UsageError(`expected ${what}`);
  return [...words];
}

async function users(target: Target, [action, ...a]: string[]): Promise<unknown> {
  switch (action) {
    case 'list':
      return call(target, 'GET', '/api/users');
    case 'add': {
      if (a.length !== 2 && a.length !== 3)
        throw new UsageError('expected users add <name> <password> [tags]');
      return call(target, 'PUT', `/api/users/${seg(a[0]!)}`, { password: a[1], tags: a[2] ?? '' });
    }
    case 'set-password': {
      const [name, password] = need(a, 2, 'users set-password <name> <password>');
      const user = (await call(target, 'GET', `/api/users/${seg(name!)}`)) as { tags: string[] };
      return call(target, 'PUT', `/api/users/${seg(name!)}`, { password, tags: user.tags });
    }
    case 'set-tags': {
      const [name, tags] = need(a, 2, 'users set-tags <name> <tags>');
      return call(target, 'PUT', `/api/users/${seg(name!)}`, { tags });
    }
    case 'delete':
      return call(target, 'DELETE', `/api/users/${seg(need(a, 1, 'users delete <name>')[0]!)}`);
    default:
      throw new UsageError(`unknown users action ${JSON.stringify(action)}`);
  }
}

async function permissions(target: Target, route: string, [action, ...a]: string[]): Promise<unknown> {
  const topic = route === 'topic-permissions';
  switch (action) {
    case 'list':
      if (a.length > 1) throw new UsageError(`expected ${route} list [vhost]`);
      return call(target, 'GET', `/api/${route}${a[0] === undefined ? '' : `/${seg(a[0])}`}`);
    case 'set': {
      const what = topic
        ? '<vhost> <user> <exchange> <write> <read>'
        : '<vhost> <user> <configure> <write> <read>';
      const [vhost, user, x, write, read] = need(a, 5, `${route} set ${what}`);
      const body = topic ? { exchange: x, write, read } : { configure: x, write, read };
      return call(target, 'PUT', `/api/${route}/${seg(vhost!)}/${seg(user!)}`, body);
    }
    case 'clear': {
      const [vhost, user] = need(a, 2, `${route} clear <vhost> <user>`);
      return call(target, 'DELETE', `/api/${route}/${seg(vhost!)}/${seg(user!)}`);
    }
    default:
      throw new UsageError(`unknown ${route} action ${JSON.stringify(action)}`);
  }
}

async function definitions(target: Target, [action, file, ...rest]: string[]): Promise<unknown> {
  if (rest.length > 0) throw new UsageError('expected definitions export [file] | import <file>');
  if (action === 'export') {
    const exported = await call(target, 'GET', '/api/definitions');
    if (file === undefined) return exported;
    writeFileSync(file, `${JSON.stringify(exported, null, 2)}\n`);
    return undefined;
  }
  if (action !== 'import' || file === undefined)
    throw new UsageError('expected definitions export [file] | import <file>');
  return call(target, 'POST', '/api/definitions', JSON.parse(readFileSync(file, 'utf8')));
}

/** Runs one management command; what it answers (a listing) is printed as JSON on stdout. */
export async function runManage(
  args: readonly string[],
  env: Env,
  out: (text: string) => void,
): Promise<void> {
  const { words, target } = parse(args, env);
  const [command, ...rest] = words;
  let result: unknown;
  if (command === 'users') result = await users(target, rest);
  else if (command === 'permissions' || command === 'topic-permissions')
    result = await permissions(target, command, rest);
  else if (command === 'whoami') result = await call(target, 'GET', '/api/whoami');
  else if (command === 'definitions') result = await definitions(target, rest);
  else throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (result !== undefined) out(`${JSON.stringify(result, null, 2)}\n`);
}
