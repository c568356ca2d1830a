/**
 * Finding owned objects at start: every state log is listed, opened and replayed, and handed to the
 * vhost its identity names. A log with no whole snapshot run (its creation was cut short) and the
 * logs of vhosts that no longer exist (their deletion was cut short) are removed.
 */
import type { Storage } from '../../storage/types.js';
import { groupMachine } from './group-entries.js';
import { corrupt } from './json.js';
import { type StatePrefix, stateLogNameOf, statePrefixOf } from './names.js';
import { producerMachine } from './producer-entries.js';
import { retainedMachine } from './retained-entries.js';
import { sessionMachine } from './session-entries.js';
import { describe, type OpenedLog, openReplayed, type StateMachine } from './state-log.js';
import { txnMachine } from './txn-entries.js';

/** How the logs of each prefix are read. */
export const stateMachines = {
  group: groupMachine,
  session: sessionMachine,
  retained: retainedMachine,
  producers: producerMachine,
  transactions: txnMachine,
} as const;

type Machines = typeof stateMachines;
type StateOf<M> = M extends StateMachine<infer S, infer _E> ? S : never;

export class FoundObjects {
  readonly #byVhost = new Map<string, Map<StatePrefix, Array<OpenedLog<unknown>>>>();

  static async discover(storage: Storage): Promise<FoundObjects> {
    const found = new FoundObjects();
    for (const name of await storage.listLogs()) {
      const prefix = statePrefixOf(name);
      if (prefix === undefined) continue;
      const machine: StateMachine<unknown, unknown> = stateMachines[prefix] as never;
      const opened = await openReplayed(storage, name, machine);
      const identity = opened.replayed.identity;
      if (identity === undefined) {
        await opened.log.delete();
        continue;
      }
      // A log is reopened by the name its identity gives (after a failure): they must agree.
      if (stateLogNameOf(prefix, identity) !== name) {
        await opened.log.close();
        await found.closeRest();
        throw corrupt(`log ${name} names ${describe(identity)}, whose log has another name`);
      }
      found.#add(identity.vhost, prefix, opened);
    }
    return found;
  }

  /** The logs of `prefix` objects in `vhost`, handed over once. */
  take<P extends StatePrefix>(vhost: string, prefix: P): Array<OpenedLog<StateOf<Machines[P]>>> {
    const byPrefix = this.#byVhost.get(vhost);
    const logs = byPrefix?.get(prefix) ?? [];
    byPrefix?.delete(prefix);
    return logs as Array<OpenedLog<StateOf<Machines[P]>>>;
  }

  /** Removes every log nobody took: objects of vhosts that are gone. */
  async discardRest(): Promise<void> {
    for (const byPrefix of this.#byVhost.values()) {
      for (const logs of byPrefix.values()) for (const opened of logs) await opened.log.delete();
    }
    this.#byVhost.clear();
  }

  /** Releases every log nobody took, keeping the data (start-up failed part-way). */
  async closeRest(): Promise<void> {
    for (const byPrefix of this.#byVhost.values()) {
      for (const logs of byPrefix.values()) {
        for (const opened of logs) await opened.log.close().catch(() => undefined);
      }
    }
    this.#byVhost.clear();
  }

  #add(vhost: string, prefix: StatePrefix, opened: OpenedLog<unknown>): void {
    let byPrefix = this.#byVhost.get(vhost);
    if (byPrefix === undefined) {
      byPrefix = new Map();
      this.#byVhost.set(vhost, byPrefix);
    }
    const logs = byPrefix.get(prefix) ?? [];
    logs.push(opened);
    byPrefix.set(prefix, logs);
  }
}
