/**
 * The mutation engine: from a protocol's recorded sessions and a case number, one case — the bytes a
 * hostile or careless client writes on one connection, and how it writes them. The same seed and case
 * number always give the same case.
 */
import type { Session } from './corpus.js';
import { concat, type Dialect, type Field, fixedWidth } from './dialect.js';
import { caseRandom, type Random } from './random.js';

export interface Case {
  readonly index: number;
  /** Written one after another; how they are paced is `pace`. */
  readonly chunks: readonly Uint8Array[];
  /** `burst`: all at once; `turns`: one chunk per event-loop turn; `wait`: a few ms between chunks. */
  readonly pace: 'burst' | 'turns' | 'wait';
  /** `end`: half-close and wait for the broker to close; `destroy`: drop at once; `linger`: read a while, then end. */
  readonly finish: 'end' | 'destroy' | 'linger';
  readonly lingerMs: number;
  /** What was done, for the failure report. */
  readonly steps: readonly string[];
}

export interface MutateOptions {
  /** The largest frame an `oversize` step builds. */
  readonly oversizeBytesMax: number;
  /** Cases are cut to this many bytes. */
  readonly caseBytesMax: number;
}

export const mutateDefaults: MutateOptions = {
  oversizeBytesMax: 2 * 1024 * 1024,
  caseBytesMax: 4 * 1024 * 1024,
};

interface Work {
  readonly dialect: Dialect;
  readonly corpus: readonly Session[];
  readonly random: Random;
  readonly options: MutateOptions;
  readonly steps: string[];
  context: unknown;
}

// ---- field values -----------------------------------------------------------------------------

function readField(frame: Uint8Array, f: Field): number {
  if (f.kind === 'uvarint' || f.kind === 'varint' || f.kind === 'mqttvar') {
    let value = 0;
    for (let i = 0; i < f.width; i++) value += (frame[f.at + i]! & 0x7f) * 2 ** (7 * i);
    return f.kind === 'varint' ? (value % 2 === 0 ? value / 2 : -(value + 1) / 2) : value;
  }
  let value = 0n;
  for (let i = 0; i < f.width; i++) value = (value << 8n) | BigInt(frame[f.at + i]!);
  return Number(f.kind === 'i16' || f.kind === 'i32' ? BigInt.asIntN(f.width * 8, value) : value);
}

function varintBytes(kind: Field['kind'], value: number): number[] {
  let rest =
    kind === 'varint' ? (value >= 0 ? value * 2 : -value * 2 - 1) : Math.max(0, Math.min(value, 2 ** 35 - 1));
  const bytesMax = kind === 'mqttvar' ? 4 : 5;
  const out: number[] = [];
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0 && out.length < bytesMax - 1) byte |= 0x80;
    out.push(byte);
  } while (rest > 0 && out.length < bytesMax);
  return out;
}

/** Values worth trying in a field: edges of its width, off-by-ones, and what would overrun the frame. */
function interesting(f: Field, current: number, remaining: number, random: Random): number[] {
  const common = [0, 1, current - 1, current + 1, current * 2, remaining, remaining + 1, random.below(256)];
  if (f.kind === 'mqttvar') return [...common, 127, 128, 16_383, 16_384, 2_097_151, 268_435_455];
  if (f.kind === 'uvarint') return [...common, 127, 128, 16_384, 2 ** 31 - 1, 2 ** 32 - 1];
  if (f.kind === 'varint') return [...common, -1, -2, 2 ** 31 - 1, -(2 ** 31)];
  const bits = fixedWidth[f.kind] * 8;
  return [
    ...common,
    -1,
    2 ** (bits - 1) - 1,
    2 ** (bits - 1),
    2 ** bits - 1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
  ];
}

/** Writes `value` into the field; varints take the bytes they need (or a malformed over-long form). */
function writeField(frame: Uint8Array, f: Field, value: number, random: Random): Uint8Array {
  if (f.kind === 'uvarint' || f.kind === 'varint' || f.kind === 'mqttvar') {
    const overlong = random.chance(0.1);
    const bytes = overlong
      ? [0xff, 0xff, 0xff, 0xff, 0xff, 0x01].slice(0, random.between(2, 6))
      : varintBytes(f.kind, value);
    if (!overlong && f.kind === 'mqttvar' && random.chance(0.1)) bytes.splice(0, 1, bytes[0]! | 0x80, 0x00);
    return concat([frame.subarray(0, f.at), Uint8Array.from(bytes), frame.subarray(f.at + f.width)]);
  }
  const out = frame.slice();
  let v = BigInt.asUintN(f.width * 8, BigInt(Math.trunc(value)));
  for (let i = f.width - 1; i >= 0; i--) {
    out[f.at + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function tamper(frame: Uint8Array, fields: readonly Field[], work: Work, lengthsOnly: boolean): Uint8Array {
  const pool = lengthsOnly ? fields.filter((f) => f.role !== 'value') : fields;
  if (pool.length === 0) return frame;
  const f = work.random.pick(pool);
  const current = readField(frame, f);
  const value = work.random.pick(interesting(f, current, frame.byteLength - f.at - f.width, work.random));
  work.steps.push(`field ${f.kind}@${f.at} ${current}→${value}`);
  return writeField(frame, f, value, work.random);
}

// ---- byte operators ---------------------------------------------------------------------------

const interestingBytes = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

function bytesOp(frame: Uint8Array, work: Work): Uint8Array {
  const { random } = work;
  const n = frame.byteLength;
  const at = random.below(n + 1);
  switch (random.below(5)) {
    case 0: {
      if (n === 0) return frame;
      const out = frame.slice();
      const flips = random.between(1, 8);
      for (let i = 0; i < flips; i++) out[random.below(n)]! ^= 1 << random.below(8);
      work.steps.push(`flip ${flips}`);
      return out;
    }
    case 1: {
      if (n === 0) return frame;
      const out = frame.slice();
      const where = random.below(n);
      out[where] = random.chance(0.5) ? random.pick(interestingBytes) : random.below(256);
      work.steps.push(`set @${where}`);
      return out;
    }
    case 2: {
      const count = random.between(1, 16);
      const inserted = Uint8Array.from({ length: count }, () => random.below(256));
      work.steps.push(`insert ${count} @${at}`);
      return concat([frame.subarray(0, at), inserted, frame.subarray(at)]);
    }
    case 3: {
      const count = Math.min(random.between(1, 16), n - at);
      work.steps.push(`delete ${count} @${at}`);
      return concat([frame.subarray(0, at), frame.subarray(at + count)]);
    }
    default: {
      const from = random.below(n + 1);
      const count = Math.min(random.between(1, 32), n - from);
      work.steps.push(`duplicate ${count} @${from}→${at}`);
      return concat([frame.subarray(0, at), frame.subarray(from, from + count), frame.subarray(at)]);
    }
  }
}

/** One mutation of one frame, through the dialect's fields, its own operators or its inner protocol. */
function mutateFrame(frame: Uint8Array, work: Work, lengthsOnly = false): Uint8Array {
  const { dialect, random } = work;
  const inner = dialect.inner;
  if (inner !== undefined && random.chance(0.5)) {
    const payload = inner.unwrap(frame);
    if (payload !== undefined) {
      const innerWork = { ...work, dialect: inner.dialect, context: inner.dialect.context([payload]) };
      work.steps.push('inner');
      let mutated = mutateFrame(payload, innerWork, lengthsOnly);
      if (random.chance(0.6)) mutated = inner.dialect.repair(mutated, innerWork.context);
      return inner.wrap(frame, mutated);
    }
  }
  const fields = dialect.fields(frame, work.context);
  const extra = dialect.extraMutations ?? [];
  if (lengthsOnly || (fields.length > 0 && random.chance(0.4)))
    return tamper(frame, fields, work, lengthsOnly);
  if (extra.length > 0 && random.chance(0.5)) {
    work.steps.push('text');
    return random.pick(extra)(frame, random);
  }
  return bytesOp(frame, work);
}

function mutateFrames(frames: Uint8Array[], work: Work, edits: number, lengthsOnly = false): Uint8Array[] {
  const { random, dialect } = work;
  const opening = dialect.opening(frames);
  const out = frames.slice();
  for (let e = 0; e < edits && out.length > 0; e++) {
    const i =
      out.length > opening && random.chance(0.75)
        ? opening + random.below(out.length - opening)
        : random.below(out.length);
    work.steps.push(`#${i}`);
    const mutated = mutateFrame(out[i]!, work, lengthsOnly);
    out[i] = random.chance(lengthsOnly ? 0.5 : 0.6) ? dialect.repair(mutated, work.context) : mutated;
  }
  return out;
}

// ---- session-level strategies -----------------------------------------------------------------

function truncate(frames: Uint8Array[], work: Work): Uint8Array[] {
  const k = work.random.below(frames.length + 1);
  const kept = frames.slice(0, k);
  const next = frames[k];
  if (next !== undefined && work.random.chance(0.5))
    kept.push(next.subarray(0, work.random.below(next.byteLength)));
  work.steps.push(`truncate at frame ${k}${kept.length > k ? ' mid-frame' : ''}`);
  return kept;
}

function splice(frames: Uint8Array[], work: Work): Uint8Array[] {
  const { random, corpus } = work;
  const out = frames.slice(0, work.dialect.opening(frames));
  const count = random.between(1, 20);
  for (let i = 0; i < count; i++) {
    const other = random.pick(corpus).frames;
    if (other.length > 0) out.push(random.pick(other));
  }
  work.steps.push(`splice ${count} frames from other sessions`);
  return out;
}

function reorder(frames: Uint8Array[], work: Work): Uint8Array[] {
  const { random } = work;
  const opening = work.dialect.opening(frames);
  const head = frames.slice(0, opening);
  const body = frames.slice(opening);
  const how = random.below(4);
  if (how === 0) {
    for (let i = body.length - 1; i > 0; i--) {
      const j = random.below(i + 1);
      [body[i], body[j]] = [body[j]!, body[i]!];
    }
  } else if (how === 1) body.reverse();
  else if (how === 2 && body.length > 0) {
    const times = random.between(1, 10);
    for (let t = 0; t < times; t++) body.splice(random.below(body.length + 1), 0, random.pick(body));
  } else if (body.length > 0) body.splice(random.below(body.length), random.between(1, 3));
  work.steps.push(`reorder ${['shuffle', 'reverse', 'replay', 'drop'][how]}`);
  return [...head, ...body];
}

function storm(frames: Uint8Array[], work: Work): Uint8Array[] {
  const opening = work.dialect.opening(frames);
  const times = work.random.between(2, 50);
  const body = frames.slice(opening);
  work.steps.push(`storm ×${times}`);
  return [...frames.slice(0, opening), ...Array.from({ length: times }, () => body).flat()];
}

function oversize(frames: Uint8Array[], work: Work): Uint8Array[] {
  const { random, dialect } = work;
  if (frames.length === 0) return frames;
  const i = random.below(frames.length);
  const bytes = random.chance(0.8)
    ? random.between(4096, 70_000)
    : random.between(70_000, work.options.oversizeBytesMax);
  const padded = concat([frames[i]!, new Uint8Array(bytes).fill(random.below(256))]);
  const out = frames.slice();
  out[i] = dialect.repair(padded, work.context);
  work.steps.push(`oversize #${i} +${bytes}`);
  return out;
}

function randomTail(frames: Uint8Array[], work: Work): Uint8Array[] {
  const bytes = Uint8Array.from({ length: work.random.between(1, 512) }, () => work.random.below(256));
  work.steps.push(`random ${bytes.byteLength} bytes`);
  return [...frames.slice(0, work.dialect.opening(frames)), bytes];
}

function replay(frames: Uint8Array[], work: Work): Uint8Array[] {
  work.steps.push('replay as recorded');
  return frames;
}

type Strategy = (frames: Uint8Array[], work: Work) => Uint8Array[];

const strategies: ReadonlyArray<readonly [number, Strategy]> = [
  [40, (f, w) => mutateFrames(f, w, w.random.between(1, 4))],
  [10, (f, w) => mutateFrames(f, w, w.random.between(1, 3), true)],
  [10, truncate],
  [12, splice],
  [12, reorder],
  [5, storm],
  [3, oversize],
  [3, randomTail],
  [5, replay],
];
const strategyWeight = strategies.reduce((sum, [w]) => sum + w, 0);

function pickStrategy(random: Random): Strategy {
  let roll = random.below(strategyWeight);
  for (const [weight, strategy] of strategies) {
    if (roll < weight) return strategy;
    roll -= weight;
  }
  return strategies[0]![1];
}

// ---- delivery ---------------------------------------------------------------------------------

function chunksOf(frames: Uint8Array[], work: Work): { chunks: Uint8Array[]; pace: Case['pace'] } {
  const { random } = work;
  const whole = concat(frames).subarray(0, work.options.caseBytesMax);
  const roll = random.below(4);
  if (roll <= 1) return { chunks: [whole], pace: 'burst' };
  const pace = random.chance(0.7) ? 'turns' : 'wait';
  if (roll === 2) return { chunks: grouped(frames.filter((f) => f.byteLength > 0)), pace };
  const cuts = new Set<number>();
  const count = random.between(1, 16);
  for (let i = 0; i < count; i++) cuts.add(random.below(whole.byteLength));
  const sorted = [...cuts].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...sorted, whole.byteLength]) {
    if (cut > from) chunks.push(whole.subarray(from, cut));
    from = cut;
  }
  return { chunks, pace };
}

/** Frames in at most `chunksMax` writes, so a storm of small frames does not cost a syscall each. */
const chunksMax = 64;

function grouped(frames: Uint8Array[]): Uint8Array[] {
  if (frames.length <= chunksMax) return frames;
  const per = Math.ceil(frames.length / chunksMax);
  return Array.from({ length: Math.ceil(frames.length / per) }, (_, i) =>
    concat(frames.slice(i * per, (i + 1) * per)),
  );
}

/** Case `index` of the run seeded with `seed`. */
export function makeCase(
  dialect: Dialect,
  corpus: readonly Session[],
  seed: number,
  index: number,
  options: MutateOptions = mutateDefaults,
): Case {
  const random = caseRandom(seed, index);
  const base = random.pick(corpus);
  const steps = [base.name];
  const work: Work = { dialect, corpus, random, options, steps, context: dialect.context(base.frames) };
  let frames = pickStrategy(random)(base.frames.slice(), work);
  if (random.chance(0.25)) frames = mutateFrames(frames, work, random.between(1, 3));
  const { chunks, pace } = chunksOf(frames, work);
  const finishRoll = random.below(4);
  const finish = finishRoll < 2 ? 'end' : finishRoll === 2 ? 'destroy' : 'linger';
  return { index, chunks, pace, finish, lingerMs: random.between(1, 60), steps };
}
