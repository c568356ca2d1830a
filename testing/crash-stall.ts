/**
 * The parent's side of testing/crash-stall-broker.ts: a child broker on file storage whose writes to
 * one log can be stalled for good, then SIGKILLed. Every wait is bounded; the child is killed after
 * `childLifetimeMs` should a test forget it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './wait.js';

const childScript = new URL('./crash-stall-broker.js', import.meta.url);
const childLifetimeMs = 90_000;
/** A start on a loaded machine (load 20 on 2 cores) took over 20 s here; as long as `startCli` allows. */
const readyWaitMs = 45_000;

export interface StalledChild {
  readonly port: number;
  /** Every later write to a file whose path holds `pathPart` waits past the test's end. */
  stall(pathPart: string): Promise<void>;
  /** SIGKILLs the child and waits until it is gone. */
  kill(): Promise<void>;
}

/** Waits for a line the child prints. */
export function watchLines(
  child: ChildProcess,
  waitMs = 20_000,
): (pattern: RegExp) => Promise<RegExpMatchArray> {
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString('utf8');
  });
  return async (pattern) => {
    await until(() => pattern.test(out), waitMs, `child printing ${pattern}`);
    return out.match(pattern)!;
  };
}

export async function startStalledChild(
  dataDir: string,
  listener: 'amqp' | 'mqtt' | 'grpc' | 'http' | 'kafka',
): Promise<StalledChild> {
  const child = spawn(process.execPath, [childScript.pathname, dataDir, listener], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const guard = setTimeout(() => child.kill('SIGKILL'), childLifetimeMs);
  const kill = async () => {
    clearTimeout(guard);
    child.kill('SIGKILL');
    await exited;
  };
  try {
    const line = watchLines(child, readyWaitMs);
    const port = Number((await line(/ready (\d+)/))[1]);
    const stall = async (pathPart: string) => {
      child.stdin!.write(`stall ${pathPart}\n`);
      await line(/stalled/);
    };
    return { port, stall, kill };
  } catch (err) {
    await kill();
    throw err;
  }
}

/** `promise`'s outcome as true (resolved) or false (rejected, or not settled within `waitMs`). */
export async function settlesWithin(promise: Promise<unknown>, waitMs: number): Promise<boolean> {
  const answered = promise.then(
    () => true,
    () => false,
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), waitMs);
  });
  try {
    return await Promise.race([answered, late]);
  } finally {
    // Left pending, the timer would keep the test file's process up for the rest of `waitMs`.
    clearTimeout(timer);
  }
}

/** Runs `run` in a new temporary data folder, removed afterwards whatever the outcome. */
export async function inTempFolder(prefix: string, run: (dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  try {
    await run(dataDir);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
