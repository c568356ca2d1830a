/**
 * `node dist/bench/profile-turns.js <file.cpuprofile> [thresholdMs]`: the long turns of a CPU profile
 * (written by `LATENCY_PROFILE=<dir> npm run bench -- latency`, or by `node --cpu-prof`), attributed.
 *
 * A turn here is a run of consecutive samples that are not `(idle)`: the main thread working without a
 * pause in epoll. For every run longer than the threshold (2 ms by default) its samples are charged to
 * the callback that started it (the outermost JavaScript frame: a socket read, an immediate, a timer, a
 * microtask drain), to the first frame of the broker's own code under it, and to the garbage collector,
 * so a long turn reads as "a socket read of the MQTT adapter, 70 % in its decode, 20 % GC".
 * A sample stands for the time to the next one, at most `stretchMax` sampling intervals: a longer
 * distance means the thread was not run (the scheduler's share), which is counted apart.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** How many rows each table keeps. */
const rowsMax = Number(process.env['TURNS_ROWS'] ?? 12);
/** A sample counts for at most this many sampling intervals of work. */
const stretchMax = 3;

function nameOf(frame: CallFrame): string {
  const file = frame.url.replace(/^.*\/dist\//, '').replace(/^node:/, '');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

/** For each node id: the outermost JS frame, the first broker frame and the node's own name. */
function classify(profile: Profile): Map<number, { entry: string; broker: string; self: string }> {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const out = new Map<number, { entry: string; broker: string; self: string }>();
  for (const node of profile.nodes) {
    const stack: CallFrame[] = [];
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      stack.push(byId.get(id)!.callFrame);
    }
    stack.reverse(); // root first
    const frames = stack.slice(1);
    const entry = frames[0] === undefined ? '(root)' : nameOf(frames[0]);
    const own = frames.find((f) => f.url.includes('/dist/src/'));
    out.set(node.id, { entry, broker: own === undefined ? '—' : nameOf(own), self: nameOf(node.callFrame) });
  }
  return out;
}

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

/** The largest entries of `map` (µs, or bytes), in thousands (ms, KB) and as a share of `total`. */
function top(map: Map<string, number>, total: number, unit = 'ms'): string[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, rowsMax)
    .map(
      ([key, n]) =>
        `  ${(n / 1000).toFixed(1).padStart(8)} ${unit} ${((100 * n) / total).toFixed(0).padStart(3)} %  ${key}`,
    );
}

export function profileTurns(profile: Profile, thresholdMs: number): string {
  const kinds = classify(profile);
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const entries = new Map<string, number>();
  const brokers = new Map<string, number>();
  const selves = new Map<string, number>();
  const lengths: number[] = [];
  let busyUs = 0;
  let longUs = 0;
  let notRunUs = 0;
  const interval = [...profile.timeDeltas].sort((a, b) => a - b)[profile.timeDeltas.length >> 1] ?? 100;
  let runStart = -1;
  let runSamples: Array<{ id: number; us: number }> = [];
  const close = () => {
    if (runSamples.length === 0) return;
    const us = runSamples.reduce((sum, s) => sum + s.us, 0);
    busyUs += us;
    if (us > thresholdMs * 1000) {
      lengths.push(us / 1000);
      longUs += us;
      for (const s of runSamples) {
        const k = kinds.get(s.id)!;
        add(entries, k.entry, s.us);
        add(brokers, k.broker, s.us);
        add(selves, k.self, s.us);
      }
    }
    runSamples = [];
    runStart = -1;
  };
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    // A sample stands for the time until the next one.
    const distance = profile.timeDeltas[i + 1] ?? 0;
    const us = Math.min(distance, stretchMax * interval);
    notRunUs += distance - us;
    if (idle.has(id)) close();
    else {
      if (runStart < 0) runStart = i;
      runSamples.push({ id, us });
    }
  }
  close();
  lengths.sort((a, b) => a - b);
  const wallMs = (profile.endTime - profile.startTime) / 1000;
  const q = (p: number) =>
    lengths.length === 0 ? 0 : lengths[Math.min(lengths.length - 1, Math.floor(lengths.length * p))]!;
  return [
    `${(wallMs / 1000).toFixed(1)} s profiled (sampling every ${interval} µs), busy ${(busyUs / 1000).toFixed(0)} ms, not run ${(notRunUs / 1000).toFixed(0)} ms; ${lengths.length} turns over ${thresholdMs} ms (${(longUs / 1000).toFixed(0)} ms): median ${q(0.5).toFixed(1)}, p90 ${q(0.9).toFixed(1)}, max ${q(1).toFixed(1)} ms`,
    'long turns by the callback that started them:',
    ...top(entries, longUs),
    'by the first frame of the broker under it:',
    ...top(brokers, longUs),
    'by the function on top (self time):',
    ...top(selves, longUs),
  ].join('\n');
}

interface HeapNode {
  readonly callFrame: CallFrame;
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

/** A sampled heap profile (`<n>.heapprofile`): bytes allocated by the allocating function and by the broker frame under it. */
export function heapAllocations(head: HeapNode): string {
  const selves = new Map<string, number>();
  const brokers = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode, broker: string | undefined) => {
    const own = node.callFrame.url.includes('/dist/src/') ? nameOf(node.callFrame) : broker;
    if (node.selfSize > 0) {
      total += node.selfSize;
      add(selves, nameOf(node.callFrame), node.selfSize);
      add(brokers, own ?? '—', node.selfSize);
    }
    for (const child of node.children) walk(child, own);
  };
  walk(head, undefined);
  return [
    `${(total / 1024 / 1024).toFixed(1)} MiB sampled`,
    'by the allocating function:',
    ...top(selves, total, 'kB'),
    'by the innermost frame of the broker:',
    ...top(brokers, total, 'kB'),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (file === undefined)
    throw new Error(
      'usage: node dist/bench/profile-turns.js <file.cpuprofile|file.heapprofile> [thresholdMs]',
    );
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Profile & { head?: HeapNode };
  const text =
    parsed.head !== undefined
      ? heapAllocations(parsed.head)
      : profileTurns(parsed, Number(process.argv[3] ?? 2));
  process.stdout.write(`${text}\n`);
}
