/**
 * What every management command shares: where the broker is and who logs in (flags > environment >
 * profile > defaults), one HTTP call to its admin API, the exit codes and the one error line, tables,
 * and a progress line that only shows on a terminal. Imports nothing of the broker: the commands are
 * an HTTP client and work against any Switchyard reachable over the network.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Exit codes a script can rely on. 1 is any failure not listed; 3 to 5 name the common ones so a
 * script can tell "the broker is down" from "my login is wrong" from "that queue does not exist".
 */
export const exit = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 3,
  refused: 4,
  notFound: 5,
  conflict: 6,
} as const;

/** A mistake in the command line: one line and the usage on stderr, exit 2. */
export class UsageError extends Error {}

/** The admin API answered with an error status. */
export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, code: string, reason: string) {
    super(`${status} ${code}: ${reason}`);
    this.status = status;
  }
}

/** The broker could not be reached at all (refused, reset, DNS, timeout). */
export class UnreachableError extends Error {}

export type Env = Readonly<Record<string, string | undefined>>;

export interface Io {
  readonly env: Env;
  /** Stdout; bytes for message payloads, which need not be text. */
  out(text: string | Uint8Array): void;
  err(text: string): void;
  /** Whether stdout / stderr are terminals: tables and progress for people, quiet lines for pipes. */
  readonly outTty: boolean;
  readonly errTty: boolean;
}

export function processIo(): Io {
  return {
    env: process.env,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    outTty: process.stdout.isTTY === true,
    errTty: process.stderr.isTTY === true,
  };
}

/** The login and address flags every command takes. */
/** The options every management command takes to name its broker and login (`parseArgs` form). */
export const targetOptions = {
  url: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  profile: { type: 'string' },
  config: { type: 'string' },
} as const;

export interface TargetFlags {
  readonly url?: string | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  readonly profile?: string | undefined;
  readonly config?: string | undefined;
}

export const defaults = { url: 'http://127.0.0.1:15672', user: 'guest', password: 'guest' } as const;

interface Profile {
  url?: string;
  user?: string;
  password?: string;
}

/** `$XDG_CONFIG_HOME/switchyard/cli.yaml`, else `~/.config/switchyard/cli.yaml`. */
export function profilePath(env: Env): string {
  const base = env['XDG_CONFIG_HOME'] ?? join(env['HOME'] ?? homedir(), '.config');
  return join(base, 'switchyard', 'cli.yaml');
}

/**
 * The profile named by `--profile`, SWITCHYARD_PROFILE, or the file's `default:`. A missing file is
 * no profile; a profile named but absent, or a file that does not parse, is a usage mistake.
 */
function loadProfile(flags: TargetFlags, env: Env): Profile {
  const file = flags.config ?? env['SWITCHYARD_CLI_CONFIG'] ?? profilePath(env);
  const wanted = flags.profile ?? env['SWITCHYARD_PROFILE'];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`cannot read ${file}`);
    if (wanted !== undefined || flags.config !== undefined) throw new UsageError(`no profile file ${file}`);
    return {};
  }
  let doc: { default?: unknown; profiles?: Record<string, unknown> };
  try {
    // The YAML parser is loaded only when a profile file exists: most runs have none.
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
    doc = (parse(text) ?? {}) as typeof doc;
  } catch (err) {
    throw new UsageError(`${file} is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const name = wanted ?? (typeof doc.default === 'string' ? doc.default : undefined);
  if (name === undefined) return {};
  const profile = doc.profiles?.[name];
  if (profile === undefined || profile === null || typeof profile !== 'object')
    throw new UsageError(`no profile ${JSON.stringify(name)} in ${file}`);
  const picked: Profile = {};
  for (const key of ['url', 'user', 'password'] as const) {
    const value = (profile as Record<string, unknown>)[key];
    if (value !== undefined) picked[key] = String(value);
  }
  return picked;
}

/** The broker's admin API and the login to it (HTTP Basic). */
export interface Target {
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly authorization: string;
}

export function resolveTarget(flags: TargetFlags, env: Env): Target {
  const profile = loadProfile(flags, env);
  const pick = (key: keyof Profile, variable: string): string =>
    flags[key] ?? env[variable] ?? profile[key] ?? defaults[key];
  const url = pick('url', 'SWITCHYARD_URL').replace(/\/+$/, '');
  const user = pick('user', 'SWITCHYARD_USER');
  const password = pick('password', 'SWITCHYARD_PASSWORD');
  return {
    url,
    user,
    password,
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  };
}

/** Long enough for a definitions import on a loaded broker; a hung broker still ends the command. */
const requestTimeoutMs = 60_000;

/** One request to the admin API; JSON in and out. Errors become ApiError or UnreachableError. */
export async function call(target: Target, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { authorization: target.authorization };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(target.url + path, {
      method,
      headers,
      signal: AbortSignal.timeout(requestTimeoutMs),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new UnreachableError(`cannot reach ${target.url}: ${why}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const answer = (json ?? {}) as { error?: unknown; reason?: unknown };
    const reason = typeof answer.reason === 'string' ? answer.reason : res.statusText;
    const code = typeof answer.error === 'string' ? answer.error : 'error';
    throw new ApiError(res.status, code, reason.replace(/\s+/g, ' ').trim());
  }
  return json;
}

export const enc = encodeURIComponent;

/**
 * The one error line (`switchyard: …` on stderr) and the exit code for an error. Usage mistakes add
 * the usage text.
 */
export function report(err: unknown, io: Io, usage: string): number {
  const message = err instanceof Error ? err.message : String(err);
  io.err(`switchyard: ${message}\n`);
  const parseError = (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
  if (err instanceof UsageError || parseError) {
    io.err(`${usage}\n`);
    return exit.usage;
  }
  if (err instanceof UnreachableError) return exit.unreachable;
  if (err instanceof ApiError) {
    if (err.status === 401 || err.status === 403) return exit.refused;
    if (err.status === 404) return exit.notFound;
    if (err.status === 409) return exit.conflict;
  }
  return exit.failed;
}

/** A cell as people read it: strings bare, nothing as empty, the rest as JSON. */
export function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  // Tags and other lists of names read as RabbitMQ prints them: comma-separated.
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(',');
  return JSON.stringify(value);
}

/** Columns padded to their widest cell; the first row is the heading. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  return rows
    .map(
      (row) =>
        `${row
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}

/** Objects as a table of the given columns (a dotted column reads a nested field). */
export function objectTable(rows: readonly Record<string, unknown>[], columns: readonly string[]): string {
  const read = (row: Record<string, unknown>, column: string): unknown =>
    column.split('.').reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], row);
  return table([columns, ...rows.map((row) => columns.map((c) => cell(read(row, c))))]);
}

/** Long operations: a redrawn line on a terminal, nothing when stderr is piped. */
export class Progress {
  private lastMs = 0;
  private shown = false;
  private readonly io: Io;
  private readonly label: string;
  private readonly total: number;

  constructor(io: Io, label: string, total: number) {
    this.io = io;
    this.label = label;
    this.total = total;
  }

  /** At most ten redraws a second, so a fast loop does not spend its time drawing. */
  update(done: number, extra = ''): void {
    if (!this.io.errTty) return;
    const now = Date.now();
    if (now - this.lastMs < 100 && done < this.total) return;
    this.lastMs = now;
    const width = 30;
    const ratio = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const bar = '#'.repeat(Math.round(ratio * width)).padEnd(width, '.');
    this.io.err(`\r${this.label} [${bar}] ${done}/${this.total} ${extra}`.padEnd(79));
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.io.err('\n');
    this.shown = false;
  }
}
