/**
 * Fetch (key 1), v0–12. Stored batches go out as they are; entries written by other protocols are
 * wrapped into one-record batches on the way. v0–3 get legacy messages instead (magic 0 or 1,
 * down-converted by ../legacy.ts). With fewer than minBytes ready, the request parks on
 * `partition.waitFor` until data arrives or maxWaitMs passes (long-poll, no polling). From v7 a
 * consumer may open a fetch session (KIP-227, ../fetch-sessions.ts) and then send incremental requests
 * naming only the partitions whose position changed; their answers carry only partitions with news.
 * Partitions of a topic the client may not READ answer TOPIC_AUTHORIZATION_FAILED and are never read.
 */
import type { StreamPartition } from '../../../core/api.js';
import type { LogEntry, ReadBuffers, ReadOptions } from '../../../storage/types.js';
import { allowed } from '../acls.js';
import { bufferPool, sharedBufferPool } from '../buffer-pool.js';
import {
  ApiKey,
  BatchAttribute,
  type FetchRequest,
  type FetchResponse,
  type FetchResponsePartitionData,
  type KafkaInput,
  RecordChunks,
  readBatchHeader,
} from '../codec/index.js';
import { type ApiHandler, Later, type RequestContext, type Scope } from '../context.js';
import { entryAsBatch, kafkaBatchFormat } from '../entry-format.js';
import { KafkaError, kafkaErrorOf } from '../errors.js';
import {
  carriesNews,
  type FetchContext,
  type FetchSession,
  type SessionPartition,
  type WantedPartition,
} from '../fetch-sessions.js';
import { downConvertBatches, fetchMagic } from '../legacy.js';
import { isKafkaError, partitionOf } from '../topics.js';

/** Fetch's isolation level 1 (KIP-98). */
const readCommitted = 1;
/** The longest long-poll honoured, whatever the client asks. */
const fetchWaitMsMax = 60_000;
/** Entries read per partition per fetch, besides the byte limits. */
const fetchEntriesMax = 10_000;

/** Smaller reads get a buffer of their own: Node's allocator serves those cheaply. */
const pooledReadBytesMin = 64 * 1024;

/**
 * The buffers one fetch response reads into; released once the socket has taken the response. A
 * `shared` lease hands out shared memory, which storage's read thread can fill (record batches only:
 * the legacy down-conversion inflates what it reads, and zlib is not promised shared memory).
 */
class ReadLease implements ReadBuffers {
  readonly shared: boolean;
  readonly #taken: Buffer[] = [];
  readonly #pool: typeof bufferPool;

  constructor(shared: boolean) {
    this.shared = shared;
    this.#pool = shared ? sharedBufferPool : bufferPool;
  }

  take(bytes: number): Uint8Array {
    if (bytes < pooledReadBytesMin) return Buffer.allocUnsafe(bytes);
    const buf = this.#pool.take(bytes);
    this.#taken.push(buf);
    return buf.subarray(0, bytes);
  }

  release(): void {
    for (const buf of this.#taken) this.#pool.give(buf);
    this.#taken.length = 0;
  }
}

/**
 * An entry as a batch; one of another protocol read into shared memory is copied first, since its
 * conversion decodes text and text decoders refuse shared memory.
 */
function batchOf(entry: LogEntry): Uint8Array | null {
  if (entry.format === kafkaBatchFormat || !(entry.payload.buffer instanceof SharedArrayBuffer))
    return entryAsBatch(entry);
  return entryAsBatch({ ...entry, payload: Uint8Array.from(entry.payload) });
}

/**
 * Set on a response whose bytes are views of lent buffers: the connection calls it once the socket
 * write of that response has completed (or will never happen), and not before.
 */
export const afterWrite: unique symbol = Symbol('kafka.fetch.afterWrite');

/**
 * A partition's answer; its batches stay separate (`RecordChunks`) so they reach the socket uncopied.
 * Records are never null, errors included: Kafka sends an empty record set, and librdkafka refuses a
 * null one ("invalid MessageSetSize -1") and never applies auto.offset.reset.
 */
type PartitionOut = Omit<KafkaInput<FetchResponsePartitionData>, 'records'> & {
  records: Uint8Array | RecordChunks;
};

const noRecords = new Uint8Array(0);

/** A partition that cannot be read: no offsets known (-1, as Kafka answers) and an empty record set. */
function partitionError(partitionIndex: number, errorCode: KafkaError): PartitionOut {
  return {
    partitionIndex,
    errorCode,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    abortedTransactions: [],
    preferredReadReplica: -1,
    records: noRecords,
  };
}
interface TopicOut {
  topic: string;
  partitions: PartitionOut[];
}
type FetchOut = Omit<KafkaInput<FetchResponse>, 'responses'> & {
  responses: TopicOut[];
  [afterWrite]?: () => void;
};

interface Wanted {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly maxBytes: number;
  /** 2 for record batches; 0 or 1 when the version needs legacy messages (../legacy.ts). */
  readonly magic: number;
  /** read_committed (v4+, KIP-98): nothing past the last stable offset, and the aborted list. */
  readonly committed: boolean;
}

/** Storage calls one partition read may make; each takes at least one entry. */
const readStepsMax = 64;

/**
 * The partition's batches from `offset` up to `limitBytes`; with `atLeastOne`, the first batch even
 * when it alone is larger (KIP-74: only the first partition with data may go over the limits, or the
 * response would outgrow what the client can receive). Storage sizes its file reads from what is
 * asked, so each step asks for the bytes still wanted. An entry past the limit is dropped: AMQP
 * entries grow when wrapped into a batch, so storage's count is only an estimate.
 */
function readBatches(
  partition: StreamPartition,
  span: { readonly offset: number; readonly end: number },
  limitBytes: number,
  atLeastOne: boolean,
  buffers: ReadBuffers,
): Uint8Array[] {
  const steps = new BatchSteps(span, limitBytes, atLeastOne, buffers);
  for (let options = steps.next(); options !== undefined; options = steps.next())
    steps.add(partition.read(options.offset, options));
  return steps.out;
}

/** `readBatches` with storage's file reads and CRC checks off the event loop when large (`readOffThread`). */
async function readBatchesOffThread(
  partition: StreamPartition,
  span: { readonly offset: number; readonly end: number },
  limitBytes: number,
  atLeastOne: boolean,
  buffers: ReadBuffers,
): Promise<Uint8Array[]> {
  const steps = new BatchSteps(span, limitBytes, atLeastOne, buffers);
  for (let options = steps.next(); options !== undefined; options = steps.next())
    steps.add(await partition.readOffThread(options.offset, options));
  return steps.out;
}

/** The storage reads of one partition's answer, step by step, and the batches they gave. */
class BatchSteps {
  readonly out: Uint8Array[] = [];
  readonly #end: number;
  readonly #limitBytes: number;
  readonly #atLeastOne: boolean;
  readonly #buffers: ReadBuffers;
  #bytes = 0;
  #next: number;
  #step = 0;
  #done = false;

  constructor(
    span: { readonly offset: number; readonly end: number },
    limitBytes: number,
    atLeastOne: boolean,
    buffers: ReadBuffers,
  ) {
    this.#next = span.offset;
    this.#end = span.end;
    this.#limitBytes = limitBytes;
    this.#atLeastOne = atLeastOne;
    this.#buffers = buffers;
  }

  /** The next read's options (typed as storage's, so `buffers` reaches the log), or none: done. */
  next(): (ReadOptions & { offset: number }) | undefined {
    const { out } = this;
    if (
      this.#done ||
      this.#step >= readStepsMax ||
      this.#bytes >= this.#limitBytes ||
      out.length >= fetchEntriesMax
    )
      return undefined;
    this.#step++;
    return {
      offset: this.#next,
      maxBytes: this.#limitBytes - this.#bytes,
      maxEntries: fetchEntriesMax - out.length,
      buffers: this.#buffers,
    };
  }

  add(entries: readonly LogEntry[]): void {
    if (entries.length === 0) this.#done = true;
    for (const entry of entries) {
      if (entry.offset >= this.#end) {
        this.#done = true;
        return;
      }
      this.#next = entry.offset + entry.count;
      const batch = batchOf(entry);
      if (batch === null) continue;
      if ((this.out.length > 0 || !this.#atLeastOne) && this.#bytes + batch.length > this.#limitBytes) {
        this.#done = true;
        return;
      }
      this.out.push(batch);
      this.#bytes += batch.length;
    }
  }
}

/**
 * The stored batches of a partition from `offset` up to (not including) `end`, at most `limitBytes`
 * but at least one batch, in buffers of their own (ShareFetch keeps no read lease).
 */
export function batchesBetween(
  partition: StreamPartition,
  offset: number,
  end: number,
  limitBytes: number,
): Uint8Array[] {
  return readBatches(partition, { offset, end }, limitBytes, true, {
    take: (bytes) => Buffer.allocUnsafe(bytes),
  });
}

/** Reads one partition; `budget` is what is left of the response's maxBytes. */
async function readPartition(
  ctx: Scope,
  want: Wanted,
  budget: number,
  first: boolean,
  buffers: ReadBuffers,
): Promise<{ out: PartitionOut; bytes: number }> {
  const { broker } = ctx;
  const partition = partitionOf(ctx, want.topic, want.partition);
  if (isKafkaError(partition)) return { out: partitionError(want.partition, partition), bytes: 0 };
  const end = partition.endOffset;
  const start = partition.startOffset;
  const stable = partition.stableOffset;
  // read_committed reads up to the last stable offset only.
  const readEnd = want.committed ? stable : end;
  const base = {
    partitionIndex: want.partition,
    highWatermark: BigInt(end),
    lastStableOffset: BigInt(stable),
    logStartOffset: BigInt(start),
    abortedTransactions: [] as Array<{ producerId: bigint; firstOffset: bigint }>,
    preferredReadReplica: -1,
  };
  if (want.offset < start || want.offset > end)
    return { out: partitionError(want.partition, KafkaError.offsetOutOfRange), bytes: 0 };
  const limit = Math.min(want.maxBytes, budget);
  // KIP-74: the first partition with data returns at least one whole batch, even over the limits.
  if (want.offset >= readEnd || (limit <= 0 && !first))
    return { out: { ...base, errorCode: KafkaError.none, records: noRecords }, bytes: 0 };
  try {
    const span = { offset: want.offset, end: readEnd };
    const batches = await readBatchesOffThread(partition, span, limit, first, buffers);
    if (want.committed && batches.length > 0)
      base.abortedTransactions = abortedIn(partition, want.offset, batches);
    const records = new RecordChunks(
      want.magic === 0 || want.magic === 1
        ? downConvertBatches(batches, want.magic, want.offset, limit, first)
        : batches,
    );
    return { out: { ...base, errorCode: KafkaError.none, records }, bytes: records.length };
  } catch (err) {
    broker.logger.warn({ err, topic: want.topic, partition: want.partition }, 'kafka: fetch read failed');
    return { out: partitionError(want.partition, kafkaErrorOf(err)), bytes: 0 };
  }
}

/**
 * Transactions aborted within what is returned, so the client can drop their records (KIP-98), each
 * given as starting at its producer's first batch in the response (its data, or its abort marker
 * when none of its data is): Kafka gives where the transaction began, which may lie before the
 * fetch offset. kafkajs (`consumer/filterAbortedMessages.js`) takes up at most one aborted
 * transaction per record it passes, in list order, so several starting at or before the first
 * record returned are taken up one record apart, and a producer's records passed meanwhile show. At
 * its own first batch, each producer's transaction has been taken up: the batches before it, one
 * per transaction listed before it, are records passed. The Java client and librdkafka drop a
 * producer's records from the listed offset on, which is where its first batch is, so it changes
 * nothing for them; a transaction with nothing returned is left out, having nothing to drop.
 */
function abortedIn(
  partition: StreamPartition,
  from: number,
  batches: readonly Uint8Array[],
): Array<{ producerId: bigint; firstOffset: bigint }> {
  const last = batches[batches.length - 1]!;
  const view = new DataView(last.buffer, last.byteOffset, last.byteLength);
  const to = Number(view.getBigInt64(0)) + view.getInt32(23) + 1;
  const aborted = partition.abortedBetween(from, to);
  if (aborted.length === 0) return [];
  const byProducer = transactionalBatches(batches);
  const out: Array<{ producerId: bigint; firstOffset: bigint }> = [];
  for (const { producerId, firstOffset, markerOffset } of aborted) {
    const start = Math.max(firstOffset, from);
    const first = byProducer
      .get(producerId)
      ?.find(([base, lastOffset]) => lastOffset >= start && base <= markerOffset);
    if (first !== undefined)
      out.push({ producerId: BigInt(producerId), firstOffset: BigInt(Math.max(first[0], start)) });
  }
  return out.sort((a, b) => Number(a.firstOffset - b.firstOffset));
}

/** The transactional batches of a response by producer: [base offset, last offset], in order. */
function transactionalBatches(batches: readonly Uint8Array[]): Map<number, Array<[number, number]>> {
  const byProducer = new Map<number, Array<[number, number]>>();
  for (const batch of batches) {
    let header: ReturnType<typeof readBatchHeader>;
    try {
      header = readBatchHeader(batch);
    } catch {
      continue; // not a batch of magic 2 (nor transactional, then)
    }
    if ((header.attributes & BatchAttribute.transactional) === 0) continue;
    const base = Number(header.baseOffset);
    const producerId = Number(header.producerId);
    const list = byProducer.get(producerId) ?? [];
    list.push([base, base + header.lastOffsetDelta]);
    byProducer.set(producerId, list);
  }
  return byProducer;
}

async function readAll(
  ctx: Scope,
  wanted: Wanted[],
  maxBytes: number,
  buffers: ReadBuffers,
  refused: ReadonlySet<string>,
): Promise<{ topics: TopicOut[]; bytes: number }> {
  const byTopic = new Map<string, PartitionOut[]>();
  let bytes = 0;
  for (const want of wanted) {
    const { out, bytes: got } = refused.has(want.topic)
      ? { out: partitionError(want.partition, KafkaError.topicAuthorizationFailed), bytes: 0 }
      : await readPartition(ctx, want, maxBytes - bytes, bytes === 0, buffers);
    bytes += got;
    const list = byTopic.get(want.topic) ?? [];
    list.push(out);
    byTopic.set(want.topic, list);
  }
  return { topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })), bytes };
}

/**
 * Parks until any wanted partition grows past its fetch offset and the end the last read stopped at
 * (`seen`: its answer's high watermark or last stable offset), or until the deadline: with fewer than
 * minBytes ready past the offset, waiting only for the offset would return at once and spin without
 * ever yielding to the append that could complete the fetch. The end the read saw, not the one now: an
 * append that came while the read waited for storage's read thread is news the read did not take.
 */
function waitForAny(
  ctx: Scope,
  wanted: Wanted[],
  seen: readonly TopicOut[],
  timeoutMs: number,
): Promise<void> {
  const ends = new Map<string, PartitionOut>();
  for (const t of seen) for (const p of t.partitions) ends.set(`${p.partitionIndex}:${t.topic}`, p);
  const waits: Promise<void>[] = [];
  for (const want of wanted) {
    const partition = partitionOf(ctx, want.topic, want.partition);
    if (isKafkaError(partition)) continue;
    const out = ends.get(`${want.partition}:${want.topic}`);
    const end = Number(want.committed ? (out?.lastStableOffset ?? -1n) : (out?.highWatermark ?? -1n));
    const now = want.committed ? partition.stableOffset : partition.endOffset;
    // A partition that could not be read (-1) waits as before, past what it holds now.
    const past = Math.max(want.offset, end < 0 ? now : end);
    waits.push(partition.waitFor(past, timeoutMs, want.committed).catch(() => undefined));
  }
  if (waits.length === 0) return new Promise((resolve) => setTimeout(resolve, timeoutMs));
  return Promise.race(waits);
}

/** What a fetch may read: its maxBytes, or less when its partitions' limits add up to less. */
function readBytesOf(wanted: readonly Wanted[], maxBytes: number): number {
  const partitions = wanted.reduce((sum, w) => sum + Math.max(w.maxBytes, 0), 0);
  return Math.max(0, Math.min(maxBytes, partitions));
}

async function longPoll(
  ctx: Scope & Pick<RequestContext, 'fetchBytes'>,
  wanted: Wanted[],
  request: FetchRequest,
  sessionId: number,
  refused: ReadonlySet<string>,
): Promise<FetchOut> {
  const { fetchBytes } = ctx;
  // The broker's own bound (KIP-541's fetch.max.bytes) over what the consumer asks.
  const maxBytes = Math.min(request.maxBytes, ctx.broker.options.fetchBytesMax);
  const reserved = readBytesOf(wanted, maxBytes);
  // Answers this connection has not sent yet bound what it reads (a slow reader). Held through the
  // long-poll: given back between reads, a later fetch answered meanwhile could hold what this one
  // needs while its answer waits behind this one's, and neither would ever go.
  await fetchBytes.reserve(reserved);
  let read: Awaited<ReturnType<typeof readUntilEnough>>;
  try {
    read = await readUntilEnough(ctx, wanted, request, maxBytes, refused);
  } catch (err) {
    fetchBytes.release(reserved);
    throw err;
  }
  const { topics, bytes, lease } = read;
  fetchBytes.adjust(bytes - reserved);
  return {
    errorCode: KafkaError.none,
    sessionId,
    responses: topics,
    [afterWrite]: () => {
      lease.release();
      fetchBytes.release(bytes);
    },
  };
}

/** Reads until there is enough to answer, or an error to tell, or the long-poll's deadline. */
async function readUntilEnough(
  ctx: Scope,
  wanted: Wanted[],
  request: FetchRequest,
  maxBytes: number,
  refused: ReadonlySet<string>,
): Promise<{ topics: TopicOut[]; bytes: number; lease: ReadLease }> {
  const deadline = Date.now() + Math.min(Math.max(request.maxWaitMs, 0), fetchWaitMsMax);
  const lease = new ReadLease(wanted.every((w) => w.magic === 2));
  for (;;) {
    const { topics, bytes } = await readAll(ctx, wanted, maxBytes, lease, refused);
    const remainingMs = deadline - Date.now();
    // A refusal is news the client should hear at once, as Kafka answers a fetch with errors.
    if (bytes >= Math.max(request.minBytes, 1) || remainingMs <= 0 || refused.size > 0)
      return { topics, bytes, lease };
    lease.release(); // too little to answer with: nothing of this read goes out
    await waitForAny(ctx, wanted, topics, remainingMs);
  }
}

/** Sessions came with v7; older requests carry no session fields and are always full. */
const sessionVersionMin = 7;

function sessionContext(ctx: RequestContext, request: FetchRequest): FetchContext {
  const partitions: WantedPartition[] = request.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.topic,
      partition: p.partition,
      fetchOffset: Number(p.fetchOffset),
      maxBytes: p.partitionMaxBytes,
    })),
  );
  if (ctx.apiVersion < sessionVersionMin) return { kind: 'sessionless', partitions };
  return ctx.broker.fetchSessions.context({
    sessionId: request.sessionId,
    sessionEpoch: request.sessionEpoch,
    partitions,
    forgotten: request.forgottenTopicsData,
  });
}

/**
 * What the session's answer carries: every partition after a full request, and after an incremental
 * one only those with records, an error or offsets the consumer has not been told (KIP-227).
 */
async function sessionAnswer(
  answer: Promise<FetchOut>,
  session: FetchSession,
  fetched: readonly SessionPartition[],
  incremental: boolean,
): Promise<FetchOut> {
  const out = await answer;
  const byKey = new Map(fetched.map((p) => [`${p.partition}:${p.topic}`, p]));
  const responses: TopicOut[] = [];
  for (const t of out.responses) {
    const partitions = t.partitions.filter((p) => {
      const known = byKey.get(`${p.partitionIndex}:${t.topic}`);
      if (known === undefined) return true;
      const news = carriesNews(session, known, {
        errorCode: p.errorCode ?? KafkaError.none,
        highWatermark: p.highWatermark ?? -1n,
        lastStableOffset: p.lastStableOffset ?? -1n,
        logStartOffset: p.logStartOffset ?? -1n,
        recordBytes: p.records.length,
      });
      return news || !incremental;
    });
    if (partitions.length > 0) responses.push({ topic: t.topic, partitions });
  }
  return { ...out, responses };
}

export const fetchHandler: ApiHandler = {
  apiKey: ApiKey.Fetch,
  versionMin: 0,
  versionMax: 12,
  handle(ctx: RequestContext, request: FetchRequest): Later | FetchOut {
    const context = sessionContext(ctx, request);
    if (context.kind === 'error') return { errorCode: context.errorCode, sessionId: 0, responses: [] };
    // The session's partitions as they stand now: the answer moves those with records to the back.
    const fetched: readonly WantedPartition[] =
      context.kind === 'sessionless' ? context.partitions : [...context.session.partitions.values()];
    const wanted: Wanted[] = fetched.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      offset: p.fetchOffset,
      maxBytes: p.maxBytes,
      magic: fetchMagic(ctx.apiVersion),
      committed: ctx.apiVersion >= 4 && request.isolationLevel === readCommitted,
    }));
    const refused = new Set<string>();
    for (const w of wanted) if (!allowed(ctx, 'TOPIC', w.topic, 'READ')) refused.add(w.topic);
    if (context.kind === 'sessionless') return new Later(longPoll(ctx, wanted, request, 0, refused));
    const answer = longPoll(ctx, wanted, request, context.session.id, refused);
    const incremental = context.kind === 'incremental';
    return new Later(sessionAnswer(answer, context.session, fetched as SessionPartition[], incremental));
  },
};
