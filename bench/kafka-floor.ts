/**
 * The floor under Kafka produce: `node dist/bench/kafka-floor.js <mode> [port] [dir]` answers just enough
 * Kafka (ApiVersions, Metadata v0–4, Produce v3–7) for kcat to produce, and writes every record batch it
 * receives, as received, to one file with Switchyard's cadence: one pwritev and one fdatasync in flight,
 * everything that arrived meanwhile in the next, each Produce answered once its bytes are synced. No
 * validation, no CRC, no index, no core. The broker's CPU per record above this program's is what
 * Switchyard's own work costs. Modes, by how the socket's bytes reach the file:
 * - `join`: 'data' events (Node's fresh 64 KiB reads); a request in pieces joined into a fresh buffer;
 * - `slices`: 'data' events; batches written straight from the reads' slices (no join at all);
 * - `onread`: reads into one reused buffer (`onread`); requests copied out into recycled buffers.
 * It prints `port <n>` once listening and runs until killed.
 */
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Mode = 'join' | 'slices' | 'onread';

/** A request frame: its bytes as one buffer, or as the pieces it arrived in (`slices`). */
type Frame = Buffer[];

const readBufferBytes = 1 << 20;

/** Buffers for whole requests, handed back once written (mode `onread`). */
const spare: Buffer[] = [];

class Frames {
  #chunks: Buffer[] = [];
  #bytes = 0;
  readonly mode: Mode;
  constructor(mode: Mode) {
    this.mode = mode;
  }

  push(chunk: Buffer, out: Frame[]): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.byteLength;
    while (this.#bytes >= 4) {
      const size = this.#peek4();
      if (this.#bytes < 4 + size) break;
      this.#take(4);
      out.push(this.#frame(size));
    }
  }

  #peek4(): number {
    const head = this.#chunks[0]!;
    if (head.byteLength >= 4) return head.readInt32BE(0);
    return Buffer.concat(this.#chunks, 4).readInt32BE(0);
  }

  #frame(size: number): Frame {
    const pieces = this.#take(size);
    if (this.mode === 'slices') return pieces;
    return [pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, size)];
  }

  #take(n: number): Buffer[] {
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const head = this.#chunks[0]!;
      if (head.byteLength <= left) {
        out.push(head);
        this.#chunks.shift();
        left -= head.byteLength;
      } else {
        out.push(head.subarray(0, left));
        this.#chunks[0] = head.subarray(left);
        left = 0;
      }
    }
    this.#bytes -= n;
    return out;
  }
}

/** Frames copied out of the reused read buffer as they arrive, into recycled buffers when large. */
class CopiedFrames {
  readonly #head = Buffer.alloc(4);
  #headBytes = 0;
  #frame: Buffer | undefined;
  #filled = 0;

  push(chunk: Buffer, out: Frame[]): void {
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.#frame === undefined) {
        const n = Math.min(4 - this.#headBytes, chunk.byteLength - at);
        this.#headBytes += chunk.copy(this.#head, this.#headBytes, at, at + n);
        at += n;
        if (this.#headBytes < 4) break;
        this.#headBytes = 0;
        this.#frame = lend(this.#head.readInt32BE(0));
        this.#filled = 0;
      }
      const n = Math.min(this.#frame.byteLength - this.#filled, chunk.byteLength - at);
      this.#filled += chunk.copy(this.#frame, this.#filled, at, at + n);
      at += n;
      if (this.#filled === this.#frame.byteLength) {
        out.push([this.#frame]);
        this.#frame = undefined;
      }
    }
  }
}

function lend(size: number): Buffer {
  if (size < 65536) return Buffer.allocUnsafe(size);
  const i = spare.findIndex((b) => b.byteLength >= size);
  const into = i >= 0 ? spare.splice(i, 1)[0]! : Buffer.allocUnsafe(Math.max(size, 1 << 20));
  return into.subarray(0, size);
}

/** Reads a frame's bytes as one sequence, whatever pieces they lie in. */
class Reader {
  #piece = 0;
  #at = 0;
  readonly pieces: Frame;
  constructor(pieces: Frame) {
    this.pieces = pieces;
  }
  #ensure(n: number): Buffer {
    let head = this.pieces[this.#piece]!;
    while (this.#at === head.byteLength) {
      this.#piece++;
      this.#at = 0;
      head = this.pieces[this.#piece]!;
    }
    if (head.byteLength - this.#at >= n) return head;
    const joined = Buffer.concat([head.subarray(this.#at), ...this.pieces.slice(this.#piece + 1)]);
    this.pieces.splice(this.#piece, this.pieces.length - this.#piece, joined);
    this.#at = 0;
    return joined;
  }
  i8(): number {
    return this.#ensure(1).readInt8(this.#at++);
  }
  i16(): number {
    const v = this.#ensure(2).readInt16BE(this.#at);
    this.#at += 2;
    return v;
  }
  i32(): number {
    const v = this.#ensure(4).readInt32BE(this.#at);
    this.#at += 4;
    return v;
  }
  str(): string | null {
    const n = this.i16();
    if (n < 0) return null;
    const v = this.#ensure(n).toString('utf8', this.#at, this.#at + n);
    this.#at += n;
    return v;
  }
  /** The next `n` bytes as the slices they lie in. */
  bytes(n: number): Buffer[] {
    const out: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const head = this.pieces[this.#piece]!;
      const part = Math.min(left, head.byteLength - this.#at);
      if (part > 0) out.push(head.subarray(this.#at, this.#at + part));
      this.#at += part;
      left -= part;
      if (this.#at === head.byteLength) {
        this.#piece++;
        this.#at = 0;
      }
    }
    return out;
  }
}

class Writer {
  #parts: Buffer[] = [];
  i8(v: number): this {
    const b = Buffer.allocUnsafe(1);
    b.writeInt8(v);
    this.#parts.push(b);
    return this;
  }
  i16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(v);
    this.#parts.push(b);
    return this;
  }
  i32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    this.#parts.push(b);
    return this;
  }
  i64(v: bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(v);
    this.#parts.push(b);
    return this;
  }
  str(v: string | null): this {
    if (v === null) return this.i16(-1);
    const s = Buffer.from(v);
    this.i16(s.byteLength);
    this.#parts.push(s);
    return this;
  }
  framed(correlationId: number): Buffer {
    const body = Buffer.concat(this.#parts);
    const out = Buffer.allocUnsafe(8 + body.byteLength);
    out.writeInt32BE(4 + body.byteLength, 0);
    out.writeInt32BE(correlationId, 4);
    body.copy(out, 8);
    return out;
  }
}

/** One file, one write and one fdatasync in flight; what arrives meanwhile goes in the next. */
class Log {
  #position = 0;
  #offset = 0n;
  #busy = false;
  #pending: { pieces: Buffer[]; bytes: number; done: () => void }[] = [];
  readonly fd: number;
  constructor(fd: number) {
    this.fd = fd;
  }

  /** Takes a batch's pieces; returns its base offset (set in place, as a broker would). */
  append(pieces: Buffer[], done: () => void): bigint {
    const base = this.#offset;
    const head = pieces[0]!;
    if (head.byteLength >= 61) {
      head.writeBigInt64BE(base, 0);
      this.#offset += BigInt(head.readInt32BE(57));
    }
    const bytes = pieces.reduce((n, p) => n + p.byteLength, 0);
    this.#pending.push({ pieces, bytes, done });
    this.#flush();
    return base;
  }

  #flush(): void {
    if (this.#busy || this.#pending.length === 0) return;
    this.#busy = true;
    const group = this.#pending;
    this.#pending = [];
    const buffers = group.flatMap((g) => g.pieces);
    const bytes = group.reduce((n, g) => n + g.bytes, 0);
    const position = this.#position;
    this.#position += bytes;
    writeAll(this.fd, buffers, position, () =>
      fs.fdatasync(this.fd, () => {
        this.#busy = false;
        for (const g of group) g.done();
        this.#flush();
      }),
    );
  }
}

function writeAll(fd: number, buffers: Buffer[], position: number, done: () => void): void {
  const group = buffers.slice(0, 1024);
  fs.writev(fd, group, position, (err, written) => {
    if (err) throw err;
    let left = written;
    let i = 0;
    while (i < buffers.length && left >= buffers[i]!.byteLength) left -= buffers[i++]!.byteLength;
    const rest = buffers.slice(i);
    if (left > 0) rest[0] = rest[0]!.subarray(left);
    if (rest.length === 0) done();
    else writeAll(fd, rest, position + written, done);
  });
}

const apiVersions: Array<[number, number, number]> = [
  [0, 3, 7],
  [3, 0, 4],
  [18, 0, 3],
];

function answerApiVersions(version: number, correlationId: number): Buffer {
  const w = new Writer().i16(0);
  if (version >= 3) {
    w.i8(apiVersions.length + 1);
    for (const [key, min, max] of apiVersions) w.i16(key).i16(min).i16(max).i8(0);
    return w.i32(0).i8(0).framed(correlationId);
  }
  w.i32(apiVersions.length);
  for (const [key, min, max] of apiVersions) w.i16(key).i16(min).i16(max);
  if (version >= 1) w.i32(0);
  return w.framed(correlationId);
}

function answerMetadata(r: Reader, version: number, correlationId: number, port: number): Buffer {
  const count = r.i32();
  const topics: string[] = [];
  for (let i = 0; i < count; i++) topics.push(r.str() ?? '');
  const w = new Writer();
  if (version >= 3) w.i32(0);
  w.i32(1).i32(0).str('127.0.0.1').i32(port);
  if (version >= 1) w.str(null);
  if (version >= 2) w.str('floor');
  if (version >= 1) w.i32(0);
  w.i32(topics.length);
  for (const name of topics) {
    w.i16(0).str(name);
    if (version >= 1) w.i8(0);
    w.i32(1).i16(0).i32(0).i32(0).i32(1).i32(0).i32(1).i32(0);
  }
  return w.framed(correlationId);
}

/** Handles one Produce (v3–7): appends every partition's records, answers once all are synced. */
function produce(r: Reader, version: number, correlationId: number, log: Log, reply: (b: Buffer) => void) {
  r.str();
  r.i16();
  r.i32();
  const answers: Array<{ topic: string; partition: number; base: bigint }> = [];
  let waiting = 1;
  const settled = () => {
    if (--waiting > 0) return;
    const w = new Writer().i32(answers.length);
    for (const a of answers) {
      w.str(a.topic).i32(1).i32(a.partition).i16(0).i64(a.base).i64(-1n);
      if (version >= 5) w.i64(0n);
    }
    reply(w.i32(0).framed(correlationId));
  };
  const topicCount = r.i32();
  for (let t = 0; t < topicCount; t++) {
    const topic = r.str() ?? '';
    const partitions = r.i32();
    for (let p = 0; p < partitions; p++) {
      const partition = r.i32();
      const pieces = r.bytes(r.i32());
      waiting++;
      answers.push({ topic, partition, base: log.append(pieces, settled) });
    }
  }
  settled();
}

function serve(socket: net.Socket, mode: Mode, log: Log, port: number): void {
  const frames = mode === 'onread' ? new CopiedFrames() : new Frames(mode);
  const handle = (chunk: Buffer) => {
    const out: Frame[] = [];
    frames.push(chunk, out);
    for (const frame of out) {
      const r = new Reader(frame);
      const apiKey = r.i16();
      const version = r.i16();
      const correlationId = r.i32();
      r.str();
      if (apiKey === 18 && version >= 3) r.i8();
      const reply = (b: Buffer) => socket.write(b);
      if (apiKey === 18) reply(answerApiVersions(version, correlationId));
      else if (apiKey === 3) reply(answerMetadata(r, version, correlationId, port));
      else if (apiKey === 0)
        produce(r, version, correlationId, log, (b) => {
          reply(b);
          const whole = frame[0]!;
          if (mode === 'onread' && whole.buffer.byteLength >= 1 << 20) spare.push(Buffer.from(whole.buffer));
        });
      else socket.destroy();
    }
  };
  socket.on('data', handle);
  socket.on('error', () => socket.destroy());
}

function main(): void {
  const mode = (process.argv[2] ?? 'join') as Mode;
  const port = Number(process.argv[3] ?? 0);
  const dir = fs.mkdtempSync(join(process.argv[4] ?? tmpdir(), 'kafka-floor-'));
  const log = new Log(fs.openSync(join(dir, 'log'), 'w'));
  const readBuffer = Buffer.allocUnsafe(readBufferBytes);
  const server = net.createServer({ pauseOnConnect: mode === 'onread' }, (accepted) => {
    if (mode !== 'onread') return serve(accepted, mode, log, port);
    // Node gives `onread` only to sockets it creates; the accepted one's handle is moved to such a socket.
    const inner = accepted as unknown as { _handle: unknown };
    const handle = inner._handle;
    inner._handle = null;
    const socket = new net.Socket({
      handle,
      onread: {
        buffer: readBuffer,
        callback: (n: number, buf: Uint8Array) =>
          void socket.emit('data', Buffer.from(buf.buffer, buf.byteOffset, n)),
      },
    } as net.SocketConstructorOpts);
    socket.on('close', () => accepted.destroy());
    serve(socket, mode, log, port);
  });
  server.listen(port, '127.0.0.1', () => {
    const address = server.address() as net.AddressInfo;
    process.stdout.write(`port ${address.port}\n`);
  });
  process.on('SIGINT', () => {
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
}

main();
