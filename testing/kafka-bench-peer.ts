/**
 * The far end of `npm run bench -- kafka`, run as a child process (`fork`) so that the client's CPU
 * is not taken from the process being measured, nor the other way round. Three roles:
 *
 * - `fetch <port> <topic> <partitions>`: reads a topic from offset 0 with Fetch v11 until a response
 *   brings nothing new. Responses are kept as the received chunks and only the framing is walked
 *   (partition headers, then each batch's header for its last offset and record count); record
 *   bytes are skipped, never copied or decoded.
 * - `source <bytes>`: listens on an ephemeral port (reported to the parent) and writes that many bytes
 *   to the first connection in large writes.
 * - `sink <port>`: connects to a source, receives like the fetch reader does, reports the rate.
 *
 * Results go to the parent as one IPC message: `{ role, bytes, records, seconds }`.
 */
import { connect, createServer } from 'node:net';
import { ApiKey, frameRequest, kafkaApiByKey, writeMessage } from '../src/protocols/kafka/codec/index.js';

export interface PeerResult {
  readonly role: 'fetch' | 'sink' | 'source';
  /** Record-batch bytes (fetch), bytes received (sink) or sent (source). */
  readonly bytes: number;
  readonly records: number;
  readonly seconds: number;
  /** CPU time (user + system) the peer spent in its role, to tell whether it was the limit. */
  readonly cpuMs: number;
}

/** The Fetch limits the issue asks for: large responses, so per-request costs vanish. */
export const fetchBytesMax = 50_000_000;
export const fetchPartitionBytesMax = 10_000_000;
/** A bound on Fetch rounds, far above what any bench case needs. */
const fetchRoundsMax = 100_000;
/** Bytes per write of the loopback source. */
export const sourceWriteBytes = 4 << 20;
const batchHeaderBytes = 61;
const two32 = 2 ** 32;

function cpuMsSince(before: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** Walks a response kept as received chunks; reads copy only a field that straddles two chunks. */
class ChunkCursor {
  readonly #chunks: readonly Uint8Array[];
  #index = 0;
  #at = 0;
  readonly #scratch = new Uint8Array(batchHeaderBytes);

  constructor(chunks: readonly Uint8Array[]) {
    this.#chunks = chunks;
  }

  skip(n: number): void {
    let left = n;
    while (left > 0) {
      const chunk = this.#chunks[this.#index];
      if (chunk === undefined) throw new Error('response shorter than its fields');
      const here = chunk.length - this.#at;
      if (left < here) {
        this.#at += left;
        return;
      }
      left -= here;
      this.#index += 1;
      this.#at = 0;
    }
  }

  /** The next `n` (≤ 61) bytes: a view when they lie in one chunk. */
  bytes(n: number): Uint8Array {
    const chunk = this.#chunks[this.#index];
    if (chunk !== undefined && this.#at + n <= chunk.length) {
      const view = chunk.subarray(this.#at, this.#at + n);
      this.skip(n);
      return view;
    }
    for (let i = 0; i < n; i++) {
      while (this.#at >= (this.#chunks[this.#index]?.length ?? Infinity)) this.#next();
      const current = this.#chunks[this.#index];
      if (current === undefined) throw new Error('response shorter than its fields');
      this.#scratch[i] = current[this.#at++]!;
    }
    return this.#scratch.subarray(0, n);
  }

  #next(): void {
    this.#index += 1;
    this.#at = 0;
  }

  int16(): number {
    const b = this.bytes(2);
    return (((b[0]! << 8) | b[1]!) << 16) >> 16;
  }

  int32(): number {
    return int32At(this.bytes(4), 0);
  }
}

function int32At(b: Uint8Array, at: number): number {
  return (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
}

/** Offsets stay below 2^53 in a bench, so a number is exact. */
function int64At(b: Uint8Array, at: number): number {
  return int32At(b, at) * two32 + (int32At(b, at + 4) >>> 0);
}

/** Room for a whole response at first; grown (once) when a response announces more. */
const responseBufferBytes = 64 * 1024 * 1024;

/**
 * Receives one size-prefixed response at a time straight into one reused buffer (`onread`), so the
 * reader neither allocates per socket read nor holds a response as hundreds of chunks: on this machine
 * that allocation cost the reader more CPU than walking the response.
 */
class ResponseReader {
  #buf = Buffer.allocUnsafeSlow(responseBufferBytes);
  #filled = 0;
  #waiter: ((chunks: Uint8Array[]) => void) | undefined;

  /** The `onread` option for `net.connect`. */
  readonly onread = {
    buffer: (): Uint8Array => this.#buf.subarray(this.#filled),
    callback: (n: number): boolean => {
      this.#onRead(n);
      return true;
    },
  };

  next(): Promise<Uint8Array[]> {
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  #onRead(n: number): void {
    this.#filled += n;
    if (this.#filled < 4) return;
    const total = 4 + int32At(this.#buf, 0);
    if (total > this.#buf.length) this.#grow(total);
    if (this.#filled < total) return;
    // One request is in flight at a time, so no byte of the next response arrives before this one
    // has been walked and the next request sent: the buffer can be refilled from its start.
    this.#filled = 0;
    this.#waiter?.([this.#buf.subarray(0, total)]);
  }

  #grow(bytes: number): void {
    const bigger = Buffer.allocUnsafeSlow(bytes);
    bigger.set(this.#buf.subarray(0, this.#filled));
    this.#buf = bigger;
  }
}

function fetchRequest(correlationId: number, topic: string, offsets: readonly number[]): Uint8Array {
  const api = kafkaApiByKey.get(ApiKey.Fetch)!;
  const body = {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: fetchBytesMax,
    isolationLevel: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic,
        partitions: offsets.map((o, i) => ({
          partition: i,
          fetchOffset: BigInt(o),
          partitionMaxBytes: fetchPartitionBytesMax,
        })),
      },
    ],
  };
  return frameRequest(
    { requestApiKey: ApiKey.Fetch, requestApiVersion: 11, correlationId, clientId: 'bench-reader' },
    (w) => writeMessage(w, api.request, body, 11),
  );
}

interface Tally {
  bytes: number;
  records: number;
  progressed: boolean;
}

/** Walks one partition's batches: counts records and moves the partition's next offset. */
function walkBatches(
  cursor: ChunkCursor,
  length: number,
  partition: number,
  offsets: number[],
  tally: Tally,
): void {
  let left = length;
  while (left >= batchHeaderBytes) {
    const h = cursor.bytes(batchHeaderBytes);
    const batchBytes = 12 + int32At(h, 8);
    if (batchBytes > left) break; // a partial batch at the end is not counted, as clients do
    left -= batchBytes;
    tally.records += int32At(h, 57);
    offsets[partition] = int64At(h, 0) + int32At(h, 23) + 1;
    tally.progressed = true;
    cursor.skip(batchBytes - batchHeaderBytes);
  }
  // What is left is a partial batch (its header already read when it was long enough) or nothing.
  cursor.skip(left >= batchHeaderBytes ? left - batchHeaderBytes : left);
  tally.bytes += length;
}

/** Fetch v11 response layout: header v0, then the fields in FetchResponse.json order. */
function walkResponse(chunks: readonly Uint8Array[], offsets: number[], tally: Tally): void {
  const cursor = new ChunkCursor(chunks);
  cursor.skip(4 + 4 + 4); // size, correlation id, throttle
  if (cursor.int16() !== 0) throw new Error('fetch failed');
  cursor.skip(4); // session id
  for (let topics = cursor.int32(); topics > 0; topics--) {
    cursor.skip(cursor.int16());
    for (let partitions = cursor.int32(); partitions > 0; partitions--) {
      const index = cursor.int32();
      const error = cursor.int16();
      if (error !== 0) throw new Error(`partition ${index}: error ${error}`);
      cursor.skip(8 + 8 + 8); // high watermark, last stable offset, log start offset
      const aborted = cursor.int32();
      cursor.skip(Math.max(aborted, 0) * 16 + 4); // aborted transactions, preferred read replica
      const length = cursor.int32();
      if (length > 0) walkBatches(cursor, length, index, offsets, tally);
    }
  }
}

async function runFetch(port: number, topic: string, partitions: number): Promise<PeerResult> {
  const reader = new ResponseReader();
  const socket = connect({ port, host: '127.0.0.1', onread: reader.onread });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.setNoDelay(true);
  const offsets = Array.from({ length: partitions }, () => 0);
  const tally: Tally = { bytes: 0, records: 0, progressed: true };
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  for (let round = 1; round <= fetchRoundsMax && tally.progressed; round++) {
    tally.progressed = false;
    const response = reader.next();
    socket.write(fetchRequest(round, topic, offsets));
    walkResponse(await response, offsets, tally);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpuMs = cpuMsSince(cpuBefore);
  socket.destroy();
  return { role: 'fetch', bytes: tally.bytes, records: tally.records, seconds, cpuMs };
}

/**
 * Connects to a source and times what arrives from its first byte to its end. It receives the way the
 * fetch reader does (`onread`, one reused buffer filled from its start up to a response's size, then
 * again from the start), so the two rates are measured alike.
 */
async function runSink(port: number): Promise<PeerResult> {
  const buf = Buffer.allocUnsafeSlow(responseBufferBytes);
  let filled = 0;
  let bytes = 0;
  let started = 0;
  let cpuBefore = process.cpuUsage();
  const onread = {
    buffer: (): Uint8Array => buf.subarray(filled),
    callback: (n: number): boolean => {
      if (bytes === 0) {
        started = performance.now();
        cpuBefore = process.cpuUsage();
      }
      bytes += n;
      filled += n;
      if (filled >= fetchBytesMax) filled = 0;
      return true;
    },
  };
  const socket = connect({ port, host: '127.0.0.1', onread });
  await new Promise<void>((resolve) => socket.once('end', resolve));
  const seconds = (performance.now() - started) / 1000;
  socket.destroy();
  return { role: 'sink', bytes, records: 0, seconds, cpuMs: cpuMsSince(cpuBefore) };
}

/** Listens, tells the parent its port, then writes `totalBytes` to the first connection in large writes. */
function runSource(totalBytes: number): Promise<PeerResult> {
  return new Promise((resolve) => {
    const server = createServer(async (socket) => {
      server.close();
      const chunk = Buffer.alloc(sourceWriteBytes, 120);
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      let sent = 0;
      for (; sent < totalBytes; sent += chunk.length) {
        if (!socket.write(chunk)) await new Promise((done) => socket.once('drain', done));
      }
      await new Promise<void>((done) => socket.end(done));
      const seconds = (performance.now() - started) / 1000;
      resolve({ role: 'source', bytes: sent, records: 0, seconds, cpuMs: cpuMsSince(cpuBefore) });
    });
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
    });
  });
}

async function main(): Promise<void> {
  const [role, first, ...rest] = process.argv.slice(2);
  if (role === 'fetch') process.send?.(await runFetch(Number(first), rest[0] ?? '', Number(rest[1])));
  else if (role === 'sink') process.send?.(await runSink(Number(first)));
  else if (role === 'source') process.send?.(await runSource(Number(first)));
  else throw new Error(`unknown role ${role}`);
  process.disconnect?.();
}

// Only as a forked script: importing this module for its types must not start a role.
if (process.send !== undefined && process.argv[2] !== undefined) await main();
