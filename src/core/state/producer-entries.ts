/**
 * A vhost's producer registry (`producers.<vhost>`): idempotent producers' ids and epochs, and per
 * (producer, stream, partition) the last sequence and the last few batches, so that a retried batch
 * is answered with its first offset instead of being stored twice (Kafka KIP-98, epochs KIP-360).
 */
import { corrupt, Fields, type Json } from './json.js';
import type { StateMachine } from './state-log.js';

/** Batches remembered per producer and partition for duplicate detection (Kafka keeps five). */
export const recentBatchesMax = 5;
/** The first producer id handed out. */
export const producerIdFirst = 1000;

/** A batch stored: its first and last sequence and the offset it got. */
export type RecentBatch = readonly [firstSeq: number, lastSeq: number, baseOffset: number];

export interface SequenceState {
  readonly epoch: number;
  readonly lastSeq: number;
  readonly recent: readonly RecentBatch[];
}

export interface ProducerState {
  nextId: number;
  /** Producer id → its current epoch. */
  readonly epochs: Map<number, number>;
  /** By `sequenceKey`. */
  readonly sequences: Map<
    string,
    SequenceState & { readonly producerId: number; readonly stream: string; readonly partition: number }
  >;
  /**
   * By `partitionKey`: the partition's end when its tail was last read back (`covered` entries), so
   * the next start reads only past it (ProducerRegistry.readTail).
   */
  readonly covered: Map<
    string,
    { readonly stream: string; readonly partition: number; readonly offset: number }
  >;
}

export type ProducerEntry =
  /** An id handed out (epoch 0) or its epoch bumped. */
  | { readonly type: 'producer'; readonly producerId: number; readonly epoch: number }
  | {
      readonly type: 'batch';
      readonly producerId: number;
      readonly epoch: number;
      readonly stream: string;
      readonly partition: number;
      readonly firstSeq: number;
      readonly lastSeq: number;
      readonly baseOffset: number;
    }
  /** The stream was deleted: the sequences kept for it go. */
  | { readonly type: 'stream.forget'; readonly stream: string }
  /**
   * Idempotent producer ids expired or evicted (`ProducerRegistry`): their epochs and sequences go.
   * `nextId` keeps the ids handed out from being handed out again once the highest one is forgotten.
   */
  | { readonly type: 'forget'; readonly producerIds: readonly number[]; readonly nextId: number }
  /** Every idempotent batch of the partition below `offset` is in this log before this entry. */
  | { readonly type: 'covered'; readonly stream: string; readonly partition: number; readonly offset: number }
  /** The snapshot's form of one partition's sequence state. */
  | {
      readonly type: 'sequence';
      readonly producerId: number;
      readonly stream: string;
      readonly partition: number;
      readonly state: SequenceState;
    };

export function sequenceKey(producerId: number, stream: string, partition: number): string {
  return `${producerId}\u0000${stream}\u0000${partition}`;
}

export function partitionKey(stream: string, partition: number): string {
  return `${stream}\u0000${partition}`;
}

function applyProducers(state: ProducerState, entry: ProducerEntry): ProducerState {
  switch (entry.type) {
    case 'producer':
      state.epochs.set(entry.producerId, entry.epoch);
      state.nextId = Math.max(state.nextId, entry.producerId + 1);
      break;
    case 'batch': {
      const { producerId, epoch, stream, partition } = entry;
      const key = sequenceKey(producerId, stream, partition);
      const previous = state.sequences.get(key);
      const kept = previous !== undefined && previous.epoch === epoch ? previous.recent : [];
      const recent = [...kept, [entry.firstSeq, entry.lastSeq, entry.baseOffset] as const].slice(
        -recentBatchesMax,
      );
      state.sequences.set(key, { producerId, stream, partition, epoch, lastSeq: entry.lastSeq, recent });
      if (epoch > (state.epochs.get(producerId) ?? -1)) state.epochs.set(producerId, epoch);
      break;
    }
    case 'stream.forget':
      for (const [key, sequence] of state.sequences)
        if (sequence.stream === entry.stream) state.sequences.delete(key);
      for (const [key, covered] of state.covered)
        if (covered.stream === entry.stream) state.covered.delete(key);
      break;
    case 'forget':
      forgetProducers(state, entry.producerIds);
      state.nextId = Math.max(state.nextId, entry.nextId);
      break;
    case 'covered': {
      const { stream, partition, offset } = entry;
      state.covered.set(partitionKey(stream, partition), { stream, partition, offset });
      break;
    }
    case 'sequence': {
      const { producerId, stream, partition } = entry;
      state.sequences.set(sequenceKey(producerId, stream, partition), {
        producerId,
        stream,
        partition,
        ...entry.state,
      });
      break;
    }
  }
  return state;
}

function forgetProducers(state: ProducerState, producerIds: readonly number[]): void {
  if (producerIds.length === 0) return;
  const gone = new Set(producerIds);
  for (const id of producerIds) state.epochs.delete(id);
  for (const [key, sequence] of state.sequences)
    if (gone.has(sequence.producerId)) state.sequences.delete(key);
}

/** `nextId` first: the id it follows may have been forgotten. */
function* snapshotProducers(state: ProducerState): Iterable<ProducerEntry> {
  yield { type: 'forget', producerIds: [], nextId: state.nextId };
  for (const [producerId, epoch] of state.epochs) yield { type: 'producer', producerId, epoch };
  for (const { producerId, stream, partition, epoch, lastSeq, recent } of state.sequences.values()) {
    yield { type: 'sequence', producerId, stream, partition, state: { epoch, lastSeq, recent } };
  }
  for (const { stream, partition, offset } of state.covered.values())
    yield { type: 'covered', stream, partition, offset };
}

function encodeProducers(entry: ProducerEntry): Json {
  switch (entry.type) {
    case 'producer':
      return { t: entry.type, id: entry.producerId, epoch: entry.epoch };
    case 'batch': {
      const { producerId, epoch, stream, partition, firstSeq, lastSeq, baseOffset } = entry;
      return {
        t: entry.type,
        id: producerId,
        epoch,
        stream,
        partition,
        first: firstSeq,
        last: lastSeq,
        offset: baseOffset,
      };
    }
    case 'stream.forget':
      return { t: entry.type, stream: entry.stream };
    case 'forget':
      return { t: entry.type, ids: [...entry.producerIds], next: entry.nextId };
    case 'covered':
      return { t: entry.type, stream: entry.stream, partition: entry.partition, offset: entry.offset };
    case 'sequence': {
      const { epoch, lastSeq, recent } = entry.state;
      const batches = recent.map(([first, last, offset]) => [first, last, offset]);
      return {
        t: entry.type,
        id: entry.producerId,
        stream: entry.stream,
        partition: entry.partition,
        epoch,
        last: lastSeq,
        recent: batches,
      };
    }
  }
}

function decodeRecent(list: unknown[]): RecentBatch[] {
  return list.map((raw, i) => {
    const triple = Array.isArray(raw) ? raw : [];
    const f = new Fields({ first: triple[0], last: triple[1], offset: triple[2] }, `recent batch ${i}`);
    return [f.int('first'), f.int('last'), f.int('offset')] as const;
  });
}

function decodeIds(list: unknown[]): number[] {
  return list.map((raw, i) => new Fields({ id: raw }, `forgotten producer ${i}`).int('id'));
}

function decodeProducers(json: unknown): ProducerEntry {
  const f = new Fields(json, 'producer entry');
  const type = f.str('t');
  switch (type) {
    case 'producer':
      return { type, producerId: f.int('id'), epoch: f.int('epoch') };
    case 'batch':
      return {
        type,
        producerId: f.int('id'),
        epoch: f.int('epoch'),
        stream: f.str('stream'),
        partition: f.int('partition'),
        firstSeq: f.int('first'),
        lastSeq: f.int('last'),
        baseOffset: f.int('offset'),
      };
    case 'stream.forget':
      return { type, stream: f.str('stream') };
    case 'forget':
      return { type, producerIds: decodeIds(f.array('ids')), nextId: f.int('next') };
    case 'covered':
      return { type, stream: f.str('stream'), partition: f.int('partition'), offset: f.int('offset') };
    case 'sequence': {
      const state = {
        epoch: f.int('epoch'),
        lastSeq: f.int('last'),
        recent: decodeRecent(f.array('recent')),
      };
      return { type, producerId: f.int('id'), stream: f.str('stream'), partition: f.int('partition'), state };
    }
    default:
      throw corrupt(`producer entry type '${type}'`);
  }
}

export const producerMachine: StateMachine<ProducerState, ProducerEntry> = {
  kind: 'producers',
  initial: () => ({ nextId: producerIdFirst, epochs: new Map(), sequences: new Map(), covered: new Map() }),
  apply: applyProducers,
  encode: encodeProducers,
  decode: decodeProducers,
  snapshot: snapshotProducers,
};
