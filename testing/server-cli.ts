/**
 * Helpers for tests that drive the compiled `switchyard` command as a child process. Every wait is
 * bounded; a child that outlives its test is killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { escapeMessage } from '../src/shared/escapes.js';

/** dist/testing/ → dist/cli/switchyard.js; the same layout holds in any build folder. */
export const cliPath = fileURLToPath(new URL('../cli/switchyard.js', import.meta.url));

export interface CliOptions {
  readonly env?: Record<string, string>;
  /** Another build's `dist/cli/switchyard.js` (benchmarks set two builds side by side). */
  readonly cliPath?: string;
  /** Options for node itself, before the script (V8 flags that NODE_OPTIONS refuses, for benchmarks). */
  readonly nodeArgs?: readonly string[];
  /**
   * The child in a session of its own (setsid): with the kernel's autogroup scheduling on, a session is
   * a group that gets its own share of the CPUs beside every other session's (benchmarks, to measure it).
   */
  readonly ownSession?: boolean;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /** Sees every piece of stderr as it arrives (long runs read the log as it goes). */
  readonly onStderr?: (chunk: string) => void;
  /** A started broker still running after this long is killed (default 60 s; long fuzz runs raise it). */
  readonly lifetimeMs?: number;
  /** Keeps only the last this many characters of each output stream (long runs would pile it up). */
  readonly outputCharsMax?: number;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The parent's environment without any SWITCHYARD_ variable, plus `extra`. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('SWITCHYARD_')) env[key] = value;
  }
  return { ...env, ...extra };
}

function spawnCli(args: readonly string[], options: CliOptions): ChildProcess {
  return spawn(process.execPath, [...(options.nodeArgs ?? []), options.cliPath ?? cliPath, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownSession === true,
  });
}

function collect(
  child: ChildProcess,
  options: CliOptions = {},
): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  const max = options.outputCharsMax ?? Number.POSITIVE_INFINITY;
  const keep = (text: string) => (text.length > max ? text.slice(text.length - max) : text);
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout = keep(stdout + chunk)));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = keep(stderr + chunk);
    options.onStderr?.(chunk);
  });
  return { stdout: () => stdout, stderr: () => stderr };
}

function exited(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      // For `startCli` this bound is the broker's whole lifetime, not the time its stop took.
      reject(new Error(`switchyard was still running after ${timeoutMs} ms and was killed`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Runs a command that is expected to finish by itself. */
export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  const output = collect(child);
  const { code, signal } = await exited(child, options.timeoutMs ?? 30_000);
  return { code, signal, stdout: output.stdout(), stderr: output.stderr() };
}

export type ReadyPorts = Partial<Record<keyof typeof portFlags, number>>;

export interface RunningCli {
  readonly readyLine: string;
  /** The broker's process id (for reading its memory in /proc). */
  readonly pid: number;
  /** How the process ended, or undefined while it runs. */
  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Ports from the ready line, by listener name. */
  readonly ports: Readonly<ReadyPorts>;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
  kill(): void;
}

export function parseReadyLine(line: string): ReadyPorts {
  const ports: Record<string, number> = {};
  for (const word of line.trim().split(' ').slice(2)) {
    const [name, port] = word.split('=');
    if (name !== undefined && port !== undefined) ports[name] = Number(port);
  }
  return ports;
}

/** Starts `switchyard start …` and resolves once it prints its ready line. */
export async function startCli(args: readonly string[], options: CliOptions = {}): Promise<RunningCli> {
  const child = spawnCli(['start', ...args], options);
  const output = collect(child, options);
  const exit = exited(child, options.lifetimeMs ?? 60_000);
  exit.catch(() => {});
  let exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => (exitStatus = { code, signal }));
  const readyLine = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ready line; stderr: ${output.stderr()}`)),
      // Only how long a failing start takes to report: a loaded machine can take many seconds to start.
      options.timeoutMs ?? 45_000,
    );
    const check = () => {
      const line = output
        .stdout()
        .split('\n')
        .find((l) => l.includes('ready'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve(line);
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`switchyard exited with ${code} before ready; stderr: ${output.stderr()}`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    readyLine,
    pid: child.pid ?? -1,
    exitStatus: () => exitStatus,
    ports: parseReadyLine(readyLine),
    stdout: output.stdout,
    stderr: output.stderr,
    /** Also fails when the broker logged an escaped error: every such error is a bug. */
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      child.kill(signal);
      const { code, signal: by } = await exit;
      const stderr = output.stderr();
      if (stderr.includes(escapeMessage)) throw new Error(`the broker logged an escaped error: ${stderr}`);
      return { code, signal: by, stdout: output.stdout(), stderr };
    },
    kill: () => child.kill('SIGKILL'),
  };
}

/**
 * Ports a test asks for come from outside Linux's ephemeral range (32768-60999 by default, read from
 * /proc where it can be): a port taken from inside it can become, between the test's choice and the
 * broker's bind (or a restart's bind), the source port of any process's outgoing connection, and the
 * bind then fails with EADDRINUSE. Outside it only explicit binds compete, and those are the tests'.
 */
function testPortRange(): readonly [number, number] {
  let low = 32_768;
  let high = 60_999;
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (a !== undefined && b !== undefined && Number.isInteger(a) && Number.isInteger(b))
      [low, high] = [a, b];
  } catch {
    // Not Linux: the default range is as good a guess as any.
  }
  if (low - 1 - 10_000 >= 4_096) return [10_000, low - 1];
  if (65_535 - (high + 1) >= 4_096) return [high + 1, 65_535];
  return [10_000, 65_535];
}
const [testPortMin, testPortMax] = testPortRange();
/** Ports this process handed out: never handed out twice, so two asked for in a row differ. */
const portsHandedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port that was free a moment ago on 127.0.0.1, outside the ephemeral range, new to this process. */
export async function freePort(): Promise<number> {
  const span = testPortMax - testPortMin + 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = testPortMin + Math.floor(Math.random() * span);
    if (portsHandedOut.has(port)) continue;
    if (!(await canListen(port))) continue;
    portsHandedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${testPortMin}-${testPortMax} after 200 attempts`);
}

const portFlags = {
  amqp: '--amqp-port',
  amqps: '--amqps-port',
  mqtt: '--mqtt-port',
  mqtts: '--mqtts-port',
  'mqtt-ws': '--mqtt-ws-port',
  'mqtt-wss': '--mqtt-wss-port',
  kafka: '--kafka-port',
  'kafka-tls': '--kafka-tls-port',
  grpc: '--grpc-port',
  rest: '--rest-port',
  https: '--https-port',
  // Last: some tests drop the final flag pair to set the HTTP port another way.
  http: '--http-port',
} as const;

/** `switchyard start` port flags: the listeners named get the port given, every other one is off. */
export function listenerFlags(on: Partial<Record<keyof typeof portFlags, number | 'auto'>>): string[] {
  return (Object.keys(portFlags) as Array<keyof typeof portFlags>).flatMap((name) => [
    portFlags[name],
    String(on[name] ?? 0),
  ]);
}

/** Every port setting off except HTTP, as flags. */
export function onlyHttpFlags(httpPort: number | 'auto'): string[] {
  return listenerFlags({ http: httpPort });
}

/**
 * Kafka's group.initial.rebalance.delay.ms off, as the in-process test brokers run: a group's first
 * join completes once its members are in, not 3 s later (no test of this flag's users is about the delay).
 */
export const noInitialRebalanceDelayFlags = ['--kafka-group-initial-rebalance-delay-ms', '0'];

/** `switchyard start` on file storage in `dataDir` with a Kafka listener only, for tests that SIGKILL it. */
export function startKafkaCli(dataDir: string): Promise<RunningCli> {
  return startCli(
    [
      ...['--storage', 'file', '--data-dir', dataDir, '--log-level', 'warn', ...noInitialRebalanceDelayFlags],
      ...listenerFlags({ kafka: 'auto' }),
    ],
    { lifetimeMs: 120_000 },
  );
}
