/**
 * Entry formats: how the payload of a stream entry turns into core messages. Core knows only its own
 * `entryFormat.message`; protocol adapters that store other shapes (Kafka stores record batches whole)
 * register a converter at start-up, so core never learns their layout.
 */
import { assert } from '../../shared/assert.js';
import type { LogEntry } from '../../storage/types.js';
import { decodeMessage, entryFormat } from '../message-codec.js';
import type { Message } from '../types.js';

export interface OffsetMessage {
  readonly offset: number;
  readonly message: Message;
}

export type EntryConverter = (entry: LogEntry) => OffsetMessage[];

const converters = new Map<number, EntryConverter>();

/**
 * Teach core to read entries of `format`. A converter returns the messages of one entry with their
 * offsets (within `entry.offset` … `entry.offset + entry.count - 1`); it may throw on a malformed
 * payload, and readers then skip the entry. Registering a format again replaces its converter.
 */
export function registerEntryFormat(format: number, toMessages: EntryConverter): void {
  assert(Number.isInteger(format) && format >= 0 && format <= 255, 'entry format is a byte');
  assert(format !== entryFormat.message, 'the core message format is built in');
  converters.set(format, toMessages);
}

/** Removes a converter; for tests and for adapters that unload. */
export function unregisterEntryFormat(format: number): void {
  converters.delete(format);
}

function messageEntry(entry: LogEntry): OffsetMessage[] {
  return [{ offset: entry.offset, message: decodeMessage(entry.payload).message }];
}

/**
 * The messages of one entry, or undefined when no converter knows its format. Offsets outside the
 * entry are dropped, so a faulty converter cannot move a reader backwards or past the entry.
 */
export function entryMessages(entry: LogEntry): OffsetMessage[] | undefined {
  const convert = entry.format === entryFormat.message ? messageEntry : converters.get(entry.format);
  if (convert === undefined) return undefined;
  const end = entry.offset + entry.count;
  return convert(entry).filter((item) => item.offset >= entry.offset && item.offset < end);
}
