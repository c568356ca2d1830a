/**
 * Events store: durable, replayable pub/sub. A channel is the one-partition core stream of that name
 * (a Kafka topic, an AMQP stream queue), so `Sequence` is the entry's offset + 1. A send is confirmed
 * once the append is durable. A subscriber reads from its start position (KubeMQ's six kinds) and its
 * position is kept as a core group offset — per client id and channel, or per group and channel for
 * group members, who share one reader and each get a share of the events. Reconnecting resumes there
 * whatever start kind is asked, as KubeMQ's durable subscriptions do; one live subscriber per client id.
 */

import type { CoreClient, StreamPartition } from '../../core/api.js';
import { entryMessages } from '../../core/logs/formats.js';
import { encodeMessage, entryFormat } from '../../core/message-codec.js';
import { ErrorCode, isBrokerError } from '../../shared/errors.js';
import { checkChannel } from './channels.js';
import { fail, KubemqFailure, Texts } from './errors.js';
import { checkEvent, eventInput, eventReceive } from './events.js';
import { msToNs, nsToMs } from './mapping.js';
import type { Caller, KubemqServer } from './server.js';
import type { Sink } from './sink.js';
import { type Event, type EventReceive, type Result, StoreStart, type Subscribe } from './types.js';

/** Entries read per round; a round ends early when every member is congested. */
const readEntriesMax = 64;
const readBytesMax = 1024 * 1024;
/** Longest park on an idle stream before the reader looks at its members again. */
const idleWaitMs = 5000;

export async function sendStoreEvent(caller: Caller, event: Event): Promise<Result> {
  const { server } = caller;
  checkEvent(event, server.limits.messageBytesMax);
  const nowMs = server.core.clock.now();
  const { id, input } = eventInput(event, true, nowMs);
  const payload = encodeMessage({ exchange: '', routingKey: event.Channel, ...input });
  caller.sent('events_store', event.Channel, event.ClientID);
  const append = async () => {
    await server.channels.stream(event.Channel);
    return caller.core
      .partition(event.Channel, 0)
      .append(payload, { timestamp: nowMs, format: entryFormat.message });
  };
  let appended: Awaited<ReturnType<typeof append>>;
  try {
    appended = await append();
  } catch (err) {
    // Deleted since we last saw it: create it again, once.
    if (!isBrokerError(err, ErrorCode.notFound)) throw err;
    server.channels.forget(event.Channel);
    appended = await append();
  }
  await appended.durable;
  return { EventID: id, Sent: true, Error: '' };
}

/** KubeMQ's checks of an events-store subscription (101, 102, 119, 108, 107, 111–114). */
function checkSubscribe(request: Subscribe): void {
  if (request.ClientID === '') fail(Texts.clientIdEmpty);
  checkChannel(request.Channel, { wildcards: false });
  const kind = request.EventsStoreTypeData;
  if (kind < StoreStart.newOnly || kind > StoreStart.atTimeDelta) fail(Texts.storeTypeMissing);
  const value = BigInt(request.EventsStoreTypeValue);
  if (kind === StoreStart.atSequence && value <= 0n) fail(Texts.startSequence);
  if (kind === StoreStart.atTime && value <= 0n) fail(Texts.startTime);
  if (kind === StoreStart.atTimeDelta && value <= 0n) fail(Texts.startTimeDelta);
}

/** The core group offset a subscriber's position is kept under. */
function positionGroup(request: Subscribe): string {
  return request.Group === ''
    ? `kubemq.events-store/client/${request.ClientID}`
    : `kubemq.events-store/group/${request.Group}`;
}

/** Where a new reader starts: the kept position, else the requested start kind. */
function startOffset(
  core: CoreClient,
  partition: StreamPartition,
  at: { group: string; nowMs: number },
  request: Subscribe,
): number {
  const { startOffset: first, endOffset: end } = partition;
  const clamp = (offset: number) => Math.min(Math.max(offset, first), end);
  const kept = core.fetchOffset(at.group, request.Channel, 0);
  if (kept !== undefined) return clamp(kept.offset);
  const value = BigInt(request.EventsStoreTypeValue);
  switch (request.EventsStoreTypeData) {
    case StoreStart.first:
      return first;
    case StoreStart.last:
      return end > first ? end - 1 : end;
    case StoreStart.atSequence:
      return clamp(Number(value - 1n));
    case StoreStart.atTime:
      return clamp(partition.offsetForTimestamp(nsToMs(value.toString())));
    case StoreStart.atTimeDelta:
      return clamp(partition.offsetForTimestamp(at.nowMs - Number(value) * 1000));
    default:
      return end;
  }
}

interface Member {
  readonly sink: Sink<EventReceive>;
}

/** One position on one stream, read for one subscriber or shared by a group's members. */
class StoreReader {
  readonly #server: KubemqServer;
  readonly #channel: string;
  readonly #group: string;
  readonly #partition: StreamPartition;
  readonly #members: Member[] = [];
  readonly #onEmpty: () => void;
  #offset: number;
  #committed: number;
  #lastCommitMs = 0;
  #turn = 0;

  constructor(
    server: KubemqServer,
    at: { channel: string; group: string; partition: StreamPartition; offset: number },
    onEmpty: () => void,
  ) {
    this.#server = server;
    this.#channel = at.channel;
    this.#group = at.group;
    this.#partition = at.partition;
    this.#offset = at.offset;
    this.#committed = at.offset;
    this.#onEmpty = onEmpty;
  }

  add(member: Member): void {
    this.#members.push(member);
    member.sink.onClose(() => this.#remove(member));
    if (this.#members.length === 1) void this.#run();
  }

  #remove(member: Member): void {
    const at = this.#members.indexOf(member);
    if (at !== -1) this.#members.splice(at, 1);
    if (this.#members.length > 0) return;
    this.#onEmpty();
    this.#commit(true);
  }

  async #run(): Promise<void> {
    try {
      while (this.#members.length > 0) {
        const free = this.#freeMember();
        if (free === undefined) await Promise.race(this.#members.map((m) => m.sink.drained()));
        else if (!this.#deliverRound()) await this.#partition.waitFor(this.#offset, idleWaitMs, true);
        this.#commit(false);
      }
    } catch (err) {
      const failure = new KubemqFailure(err instanceof Error ? err.message : String(err));
      for (const member of [...this.#members]) member.sink.end(failure);
    }
  }

  /** Writes what one read returns, turn by turn among free members; false when nothing was there. */
  #deliverRound(): boolean {
    const entries = this.#partition.read(this.#offset, {
      maxEntries: readEntriesMax,
      maxBytes: readBytesMax,
      // Committed data only: no aborted transaction's records, no transaction markers.
      committed: true,
    });
    if (entries.length === 0) return false;
    for (const entry of entries) {
      const messages = entryMessages(entry);
      // An entry no converter reads is skipped whole: a reader must not stall on it.
      if (messages === undefined) this.#offset = Math.max(this.#offset, entry.offset + entry.count);
      for (const { offset, message } of messages ?? []) {
        if (offset < this.#offset) continue;
        const member = this.#freeMember();
        if (member === undefined) return true;
        const at = { channel: this.#channel, timestampNs: msToNs(entry.timestamp), sequence: offset + 1 };
        member.sink.write(eventReceive(message, at));
        this.#offset = offset + 1;
      }
      this.#offset = Math.max(this.#offset, entry.offset + entry.count);
    }
    return true;
  }

  /** The next member in turn that can take an event now. */
  #freeMember(): Member | undefined {
    for (let i = 0; i < this.#members.length; i++) {
      const member = this.#members[(this.#turn + i) % this.#members.length]!;
      if (member.sink.closed || member.sink.congested()) continue;
      this.#turn = (this.#turn + i + 1) % this.#members.length;
      return member;
    }
    return undefined;
  }

  /** Keeps the position at most every `positionCommitMs`, and at once when the last member leaves. */
  #commit(now: boolean): void {
    const nowMs = this.#server.core.clock.now();
    if (this.#offset === this.#committed) return;
    if (!now && nowMs - this.#lastCommitMs < this.#server.limits.positionCommitMs) return;
    this.#lastCommitMs = nowMs;
    this.#committed = this.#offset;
    const position = { offset: this.#offset, metadata: '', committedAt: nowMs };
    this.#server.internal.commitOffset(this.#group, this.#channel, 0, position).catch((err: unknown) => {
      this.#server.logger.warn({ err, channel: this.#channel }, 'events store position not kept');
    });
  }
}

const readers = new WeakMap<KubemqServer, Map<string, StoreReader>>();

function readersOf(server: KubemqServer): Map<string, StoreReader> {
  let map = readers.get(server);
  if (map === undefined) {
    map = new Map();
    readers.set(server, map);
  }
  return map;
}

export async function subscribeEventsStore(
  caller: Caller,
  request: Subscribe,
  sink: Sink<EventReceive>,
): Promise<void> {
  checkSubscribe(request);
  const { server } = caller;
  if (server.storeClients.has(request.ClientID)) {
    fail(`client id '${request.ClientID}' already has a live events store subscription`);
  }
  server.storeClients.add(request.ClientID);
  sink.onClose(() => server.storeClients.delete(request.ClientID));
  await server.channels.stream(request.Channel);
  caller.subscribe('events_store', request.Channel, request.ClientID);
  const group = positionGroup(request);
  const key = `${group}\u0000${request.Channel}`;
  const all = readersOf(server);
  let reader = all.get(key);
  if (reader === undefined) {
    const partition = caller.core.partition(request.Channel, 0);
    const offset = startOffset(caller.core, partition, { group, nowMs: server.core.clock.now() }, request);
    const created = new StoreReader(server, { channel: request.Channel, group, partition, offset }, () => {
      if (all.get(key) === created) all.delete(key);
    });
    all.set(key, created);
    reader = created;
  }
  if (!sink.closed) reader.add({ sink });
}
