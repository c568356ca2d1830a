/**
 * Entry formats: how the payload of a stream entry turns into core messages. Core knows only its own
 * formats (`entryFormat`); protocol adapters that store other shapes (Kafka stores record batches
 * whole) register a converter at start-up, so core never learns their layout. A converter may also
 * say which producer wrote an entry and whether inside a transaction, so readers of committed data
 * can leave out what an aborted transaction wrote.
 */
import { assert } from '../../shared/assert.js';
import type { LogEntry } from '../../storage/types.js';
import { decodeMessage, entryFormat } from '../message-codec.js';
import type { Message } from '../types.js';
import { decodeTxnMarker, type EntryProducer } from './markers.js';

export interface OffsetMessage {
  readonly offset: number;
  readonly message: Message;
}

export type EntryConverter = (entry: LogEntry) => OffsetMessage[];
/** Which producer wrote an entry (-1: none, a plain append); undefined when the format cannot tell. */
export type EntryProducerOf = (entry: LogEntry) => EntryProducer | undefined;

interface Registered {
  readonly toMessages: EntryConverter;
  readonly producerOf?: EntryProducerOf;
}

const converters = new Map<number, Registered>();

/** One record of an entry as compaction sees it: its offset, its key (none: never compacted away). */
export interface KeyedRecord {
  readonly offset: number;
  /** The key's bytes as a latin1 string (a map key); undefined for a record without one. */
  readonly key: string | undefined;
  /** A delete marker for its key (Kafka's null value). */
  readonly tombstone: boolean;
}

/** What compaction asks of an entry format (./compaction.ts). */
export interface EntryCompactor {
  /** The entry's records; may throw on a malformed payload, and compaction then keeps the entry whole. */
  records(entry: LogEntry): KeyedRecord[];
  /** The entry's payload holding only the records `kept` says yes to; asked when some but not all stay. */
  retain(entry: LogEntry, kept: (offset: number) => boolean): Uint8Array;
}

const compactors = new Map<number, EntryCompactor>();
/** The module that registers each format's compactor when imported; none for a compactor made elsewhere. */
const compactorModules = new Map<number, string | undefined>();

/**
 * Teach compaction the records of entries of `format` (an adapter's stored batches). `moduleUrl` names
 * the module whose import registers this compactor (its `import.meta.url`), so the compaction thread
 * can register it too; without one, logs are compacted on their stream's executor only.
 */
export function registerEntryCompactor(format: number, compactor: EntryCompactor, moduleUrl?: string): void {
  assert(!Object.values(entryFormat).includes(format as never), 'core formats are built in');
  compactors.set(format, compactor);
  compactorModules.set(format, moduleUrl);
}

/** What another thread imports to compact as this one does; undefined when some compactor has no module. */
export interface CompactorModules {
  readonly formats: readonly number[];
  readonly modules: readonly string[];
}

export function compactorModulesOf(): CompactorModules | undefined {
  const modules = new Set<string>();
  for (const url of compactorModules.values()) {
    if (url === undefined) return undefined;
    modules.add(url);
  }
  return { formats: [...compactorModules.keys()], modules: [...modules] };
}

/** Whether every format in `formats` has a compactor here (the compaction thread's check). */
export function compactorsKnown(formats: readonly number[]): boolean {
  return formats.every((format) => compactors.has(format));
}

const noKey = (entry: LogEntry): KeyedRecord[] => [
  { offset: entry.offset, key: undefined, tombstone: false },
];

/** Core's own message entries: one record, keyed by the message's key when it has one. */
const messageCompactor: EntryCompactor = {
  records(entry) {
    const key = decodeMessage(entry.payload).message.properties.key;
    if (key === undefined) return noKey(entry);
    return [{ offset: entry.offset, key: Buffer.from(key).toString('latin1'), tombstone: false }];
  },
  retain: (entry) => entry.payload,
};

/** How compaction reads entries of `format`; undefined for formats it must keep as they are. */
export function entryCompactor(format: number): EntryCompactor | undefined {
  return format === entryFormat.message ? messageCompactor : compactors.get(format);
}

/**
 * Teach core to read entries of `format`. A converter returns the messages of one entry with their
 * offsets (within `entry.offset` … `entry.offset + entry.count - 1`); it may throw on a malformed
 * payload, and readers then skip the entry. Registering a format again replaces its converter.
 */
export function registerEntryFormat(
  format: number,
  toMessages: EntryConverter,
  producerOf?: EntryProducerOf,
): void {
  assert(Number.isInteger(format) && format >= 0 && format <= 255, 'entry format is a byte');
  assert(!Object.values(entryFormat).includes(format as never), 'core formats are built in');
  converters.set(format, producerOf === undefined ? { toMessages } : { toMessages, producerOf });
}

/** Removes a converter; for tests and for adapters that unload. */
export function unregisterEntryFormat(format: number): void {
  converters.delete(format);
}

function messageEntry(entry: LogEntry): OffsetMessage[] {
  return [{ offset: entry.offset, message: decodeMessage(entry.payload).message }];
}

const none = (): OffsetMessage[] => [];

function converterOf(format: number): EntryConverter | undefined {
  switch (format) {
    case entryFormat.message:
      return messageEntry;
    case entryFormat.txnMarker:
    case entryFormat.withheld:
      return none;
    default:
      return converters.get(format)?.toMessages;
  }
}

/**
 * The messages of one entry, or undefined when no converter knows its format. Offsets outside the
 * entry are dropped, so a faulty converter cannot move a reader backwards or past the entry.
 */
export function entryMessages(entry: LogEntry): OffsetMessage[] | undefined {
  const convert = converterOf(entry.format);
  if (convert === undefined) return undefined;
  const end = entry.offset + entry.count;
  return convert(entry).filter((item) => item.offset >= entry.offset && item.offset < end);
}

/** Who wrote the entry, when its format tells; a converter that throws tells nothing. */
export function entryProducer(entry: LogEntry): EntryProducer | undefined {
  if (entry.format === entryFormat.txnMarker) {
    const { producerId } = decodeTxnMarker(entry.payload);
    return { producerId, transactional: true };
  }
  try {
    return converters.get(entry.format)?.producerOf?.(entry);
  } catch {
    return undefined;
  }
}
