/** Helpers for tests of state logs: what a closed object's log holds, record by record. */
import { decodeJson } from '../src/core/state/json.js';
import { type Replayed, recordFormat, replayLog, type StateMachine } from '../src/core/state/state-log.js';
import type { Storage } from '../src/storage/types.js';

export interface StoredRecords<S, E> {
  /** Entries appended as entries (not inside a snapshot run), decoded, in order. */
  readonly entries: E[];
  /** Every record's format and raw payload, in order. */
  readonly raw: Array<{ readonly format: number; readonly payload: Uint8Array }>;
  readonly replayed: Replayed<S>;
}

/** Opens the log `name` (its owner must have closed it), reads it whole and closes it again. */
export async function readStateLog<S, E>(
  storage: Storage,
  name: string,
  machine: StateMachine<S, E>,
): Promise<StoredRecords<S, E>> {
  const log = await storage.openLog(name);
  try {
    const raw = log
      .read(log.startOffset)
      .map(({ format, payload }) => ({ format, payload: payload.slice() }));
    const entries = raw
      .filter((record) => record.format === recordFormat.entry)
      .map((record) => machine.decode(decodeJson(record.payload)));
    return { entries, raw, replayed: replayLog(log, machine) };
  } finally {
    await log.close();
  }
}
