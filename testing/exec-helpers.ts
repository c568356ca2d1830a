/** Executors for tests of one core object on its own: faults are collected for the test to read. */
import type { Executor } from '../src/core/exec/executor.js';
import { Supervisor } from '../src/core/exec/supervisor.js';
import type { Clock } from '../src/shared/clock.js';
import { silentLogger } from '../src/shared/logger.js';

export interface TestExecutor {
  readonly exec: Executor;
  readonly supervisor: Supervisor;
  /** Errors the object's executor caught, in order. */
  readonly faults: unknown[];
}

export function testSupervisor(clock: Clock): Supervisor {
  return new Supervisor({ clock, logger: silentLogger() });
}

export function testExecutor(clock: Clock, kind = 'queue', name = '/q'): TestExecutor {
  const supervisor = testSupervisor(clock);
  const faults: unknown[] = [];
  const exec = supervisor.executor(kind, name, { onFault: (err) => faults.push(err) });
  return { exec, supervisor, faults };
}

/** Delivery ids as a vhost hands them out. */
export function idCounter(): () => number {
  let last = 0;
  return () => ++last;
}

export type { Executor };
