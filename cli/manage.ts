/**
 * `switchyard users|permissions|topic-permissions|whoami|definitions …`: users, tags, permissions and
 * definitions of a running broker through its admin API (HTTP Basic), so they go through the same
 * login and the same authorization as any API client. Where and who: ./client.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { call, enc, type Io, objectTable, type Target, UsageError } from './client.js';

export const manageUsage = [
  'switchyard users list | add <name> <password> [tags] | passwd <name> <password> |',
  '                set-tags <name> <tags> | delete <name>',
  'switchyard permissions list [vhost] | set <vhost> <user> <configure> <write> <read> | clear <vhost> <user>',
  'switchyard topic-permissions list [vhost] | set <vhost> <user> <exchange> <write> <read> | clear <vhost> <user>',
  'switchyard whoami',
  'switchyard definitions export [file] | import <file>',
].join('\n');

export const manageCommands: ReadonlySet<string> = new Set([
  'users',
  'permissions',
  'topic-permissions',
  'whoami',
  'definitions',
]);

/** What a command answers: rows for a table (or `--json`), a document for JSON, or a line. */
export type Answer =
  | {
      readonly rows: Record<string, unknown>[];
      readonly columns: readonly string[];
      /** What `--json` prints instead of the rows, when the table is a digest of a document. */
      readonly document?: unknown;
      /** A remark for people, on stderr so a pipe gets only the rows. */
      readonly note?: string;
    }
  | { readonly json: unknown }
  | { readonly line: string }
  | undefined;

function need(words: readonly string[], count: number, what: string): string[] {
  if (words.length !== count) throw new UsageError(`expected ${what}`);
  return [...words];
}

async function rows(target: Target, path: string, columns: readonly string[]): Promise<Answer> {
  return { rows: (await call(target, 'GET', path)) as Record<string, unknown>[], columns };
}

async function users(target: Target, [action, ...a]: string[]): Promise<Answer> {
  switch (action) {
    case 'list':
      return rows(target, '/api/users', ['name', 'tags']);
    case 'add': {
      if (a.length !== 2 && a.length !== 3)
        throw new UsageError('expected users add <name> <password> [tags]');
      await call(target, 'PUT', `/api/users/${enc(a[0]!)}`, { password: a[1], tags: a[2] ?? '' });
      return { line: `Adding user "${a[0]}"` };
    }
    case 'passwd':
    case 'set-password': {
      const [name, password] = need(a, 2, 'users passwd <name> <password>');
      // Without tags the API would keep them too, but an older broker resets them: send them back.
      const user = (await call(target, 'GET', `/api/users/${enc(name!)}`)) as { tags: string[] };
      await call(target, 'PUT', `/api/users/${enc(name!)}`, { password, tags: user.tags });
      return { line: `Changing password for user "${name}"` };
    }
    case 'set-tags': {
      const [name, tags] = need(a, 2, 'users set-tags <name> <tags>');
      await call(target, 'PUT', `/api/users/${enc(name!)}`, { tags });
      return { line: `Setting tags for user "${name}" to [${tags}]` };
    }
    case 'delete': {
      const [name] = need(a, 1, 'users delete <name>');
      await call(target, 'DELETE', `/api/users/${enc(name!)}`);
      return { line: `Deleting user "${name}"` };
    }
    default:
      throw new UsageError(`unknown users action ${JSON.stringify(action)}`);
  }
}

async function permissions(target: Target, route: string, [action, ...a]: string[]): Promise<Answer> {
  const topic = route === 'topic-permissions';
  switch (action) {
    case 'list': {
      if (a.length > 1) throw new UsageError(`expected ${route} list [vhost]`);
      const path = `/api/${route}${a[0] === undefined ? '' : `/${enc(a[0])}`}`;
      const columns = topic
        ? ['vhost', 'user', 'exchange', 'write', 'read']
        : ['vhost', 'user', 'configure', 'write', 'read'];
      return rows(target, path, columns);
    }
    case 'set': {
      const what = topic
        ? '<vhost> <user> <exchange> <write> <read>'
        : '<vhost> <user> <configure> <write> <read>';
      const [vhost, user, x, write, read] = need(a, 5, `${route} set ${what}`);
      const body = topic ? { exchange: x, write, read } : { configure: x, write, read };
      await call(target, 'PUT', `/api/${route}/${enc(vhost!)}/${enc(user!)}`, body);
      return { line: `Setting ${route} for user "${user}" in vhost "${vhost}"` };
    }
    case 'clear': {
      const [vhost, user] = need(a, 2, `${route} clear <vhost> <user>`);
      await call(target, 'DELETE', `/api/${route}/${enc(vhost!)}/${enc(user!)}`);
      return { line: `Clearing ${route} for user "${user}" in vhost "${vhost}"` };
    }
    default:
      throw new UsageError(`unknown ${route} action ${JSON.stringify(action)}`);
  }
}

async function definitions(target: Target, [action, file, ...rest]: string[]): Promise<Answer> {
  if (rest.length > 0) throw new UsageError('expected definitions export [file] | import <file>');
  if (action === 'export') {
    const exported = await call(target, 'GET', '/api/definitions');
    if (file === undefined || file === '-') return { json: exported };
    writeFileSync(file, `${JSON.stringify(exported, null, 2)}\n`);
    return { line: `Exported definitions to ${file}` };
  }
  if (action !== 'import' || file === undefined)
    throw new UsageError('expected definitions export [file] | import <file>');
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read definitions from ${file}: ${(err as Error).message}`);
  }
  await call(target, 'POST', '/api/definitions', parsed);
  return { line: `Imported definitions from ${file}` };
}

/** Runs one of manageCommands with the words after the command name. */
export async function runManage(command: string, words: string[], target: Target): Promise<Answer> {
  if (command === 'users') return users(target, words);
  if (command === 'permissions' || command === 'topic-permissions')
    return permissions(target, command, words);
  if (command === 'whoami') return { json: await call(target, 'GET', '/api/whoami') };
  if (command === 'definitions') return definitions(target, words);
  throw new UsageError(`unknown command ${JSON.stringify(command)}`);
}

/** Prints an answer: rows as an aligned table, or JSON with `--json`; documents always as JSON. */
export function printAnswer(answer: Answer, json: boolean, io: Io): void {
  if (answer === undefined) return;
  if ('rows' in answer) {
    const doc = answer.document ?? answer.rows;
    io.out(json ? `${JSON.stringify(doc, null, 2)}\n` : objectTable(answer.rows, answer.columns));
    if (answer.note !== undefined) io.err(`${answer.note}\n`);
  } else if ('json' in answer) io.out(`${JSON.stringify(answer.json, null, 2)}\n`);
  else if (!json) io.out(`${answer.line}\n`);
}
