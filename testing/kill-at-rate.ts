/**
 * Kill-at-full-rate tests: clients of one protocol keep confirming things as fast as the broker answers,
 * `switchyard start` (file storage, fsync always) is SIGKILLed at a random moment once enough answers
 * have come, and the same folder is started again on the same ports. What the clients were told is
 * durable must then be there, as many times as the protocol promises.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenerFlags, type RunningCli, startCli } from './server-cli.js';
import { sleep, until } from './wait.js';

/** How long after the first `confirmedMin` answers the kill may land, at most. */
export const killSpreadMsMax = 400;
/** A broker lives at most this long in a kill test (the bound of the whole load phase). */
const brokerLifetimeMs = 90_000;

export interface KillBroker {
  readonly dataDir: string;
  readonly cli: RunningCli;
  /** The same folder and ports started again after a kill. */
  restart(): Promise<KillBroker>;
  /** Stops the broker gracefully and removes its folder (kept when `keep` is true, for a failed run). */
  finish(keep: boolean): Promise<void>;
}

/** `switchyard start` on file storage with `listeners` on the given fixed ports, so clients find it again. */
export async function startKillBroker(
  listeners: Parameters<typeof listenerFlags>[0],
  prefix: string,
  dataDir = mkdtempSync(join(tmpdir(), `switchyard-${prefix}-`)),
): Promise<KillBroker> {
  const args = ['--storage', 'file', '--fsync', 'always', '--data-dir', dataDir, '--log-level', 'warn'];
  const cli = await startCli([...args, ...listenerFlags(listeners)], { lifetimeMs: brokerLifetimeMs });
  return {
    dataDir,
    cli,
    restart: () => startKillBroker(listeners, prefix, dataDir),
    async finish(keep) {
      await cli.stop().catch(() => undefined);
      if (keep) console.error(`kept the data folder of a failed run: ${dataDir}`);
      else rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits until `confirmed()` reaches `confirmedMin` (bounded by `waitMs`), lets the load run a random
 * while more, then SIGKILLs the broker and waits for it to be gone.
 */
export async function killMidRate(
  broker: KillBroker,
  confirmed: () => number,
  confirmedMin: number,
  waitMs = 40_000,
): Promise<void> {
  await until(
    () => confirmed() >= confirmedMin,
    waitMs,
    () => `${confirmedMin} answers (got ${confirmed()})`,
  );
  await sleep(Math.floor(Math.random() * killSpreadMsMax));
  broker.cli.kill();
  await until(() => broker.cli.exitStatus() !== undefined, 10_000, 'the killed broker gone');
}

/** Runs `body` with a broker that the test may kill; the folder is kept when `body` fails. */
export async function withKillBroker(
  start: () => Promise<KillBroker>,
  body: (broker: KillBroker, track: (next: KillBroker) => void) => Promise<void>,
): Promise<void> {
  let current = await start();
  let failed = true;
  try {
    await body(current, (next) => (current = next));
    failed = false;
  } finally {
    await current.finish(failed);
  }
}

/** What a loop at full rate sent, and which of those the broker confirmed. */
export interface Sent {
  readonly sent: string[];
  readonly confirmed: Set<string>;
}

export const newSent = (): Sent => ({ sent: [], confirmed: new Set() });

/**
 * Sends `prefix-i` for i below `countMax` with at most the window's size unanswered, until it stops:
 * each id goes into `out.sent` before it is sent, and into `out.confirmed` when `send` settles it as
 * confirmed (`send` settles each id once). A `send` that throws ends the loop: its client closed under
 * the kill.
 */
export async function sendAtRate(
  prefix: string,
  countMax: number,
  window: Window,
  out: Sent,
  send: (id: string, settle: (confirmed: boolean) => void) => void,
): Promise<void> {
  for (let i = 0; i < countMax && (await window.acquire()); i++) {
    const id = `${prefix}-${i}`;
    out.sent.push(id);
    try {
      send(id, (confirmed) => {
        if (confirmed) out.confirmed.add(id);
        window.release();
      });
    } catch {
      return;
    }
  }
}

/** Ids seen more than once in `ids`. */
export function duplicates(ids: Iterable<string>): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const id of ids) (seen.has(id) ? twice : seen).add(id);
  return [...twice];
}

/** Ids of `expected` that `present` lacks. */
export function missing(expected: Iterable<string>, present: ReadonlySet<string>): string[] {
  return [...expected].filter((id) => !present.has(id));
}

/**
 * At most `windowMax` operations in flight: `acquire` waits for room (or for `stopped`), `release`
 * gives one back. A publisher loop uses it to run at full rate without an unbounded queue.
 */
export class Window {
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  stopped = false;
  private readonly windowMax: number;
  private wakeStopped: () => void = () => {};
  /** Settles at `stop`: a client call whose answer a killed broker will never send is raced against it. */
  readonly whenStopped = new Promise<void>((resolve) => (this.wakeStopped = resolve));

  constructor(windowMax: number) {
    this.windowMax = windowMax;
  }

  async acquire(): Promise<boolean> {
    while (this.inFlight >= this.windowMax && !this.stopped)
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.stopped) return false;
    this.inFlight++;
    return true;
  }

  release(): void {
    this.inFlight--;
    this.waiters.shift()?.();
  }

  stop(): void {
    this.stopped = true;
    this.wakeStopped();
    for (const wake of this.waiters.splice(0)) wake();
  }
}
