/**
 * One broker per data folder. Two processes appending to the same segments would interleave records
 * and corrupt both logs, so `open` takes `<dir>/LOCK` (holding the owner's pid) and refuses while a
 * live process holds it. A lock left by a killed process (SIGKILL, power loss) names a dead pid and is
 * taken over: crash recovery must never need a human to delete a file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BrokerError, ErrorCode } from '../shared/errors.js';

const lockFileName = 'LOCK';
/** Folders locked by this process: a pid check alone cannot tell two brokers embedded in one process apart. */
const heldHere = new Set<string>();

export interface DirLock {
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holder(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function lockDir(dir: string): DirLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, lockFileName);
  if (heldHere.has(file)) {
    throw new BrokerError(
      ErrorCode.storageFailed,
      `Data folder ${dir} is in use by another broker in this process`,
    );
  }
  const pid = holder(file);
  if (pid !== undefined && pid !== process.pid && pidAlive(pid)) {
    throw new BrokerError(ErrorCode.storageFailed, `Data folder ${dir} is in use by process ${pid}`);
  }
  // Write beside and rename, so a reader never sees a half-written pid.
  const temp = `${file}.${process.pid}`;
  fs.writeFileSync(temp, String(process.pid));
  fs.renameSync(temp, file);
  heldHere.add(file);
  let held = true;
  return {
    release(): void {
      if (!held) return;
      held = false;
      heldHere.delete(file);
      if (holder(file) === process.pid) fs.rmSync(file, { force: true });
    },
  };
}
