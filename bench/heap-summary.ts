/**
 * Reads two V8 heap snapshots (`.heapsnapshot`, as `node --heapsnapshot-signal` writes them) and
 * lists what the second holds beyond the first, by object kind and constructor name: self sizes
 * summed and divided by a count (the connections opened between the two), largest first. Used by
 * `npm run bench -- footprint` and, by hand, `node dist/bench/heap-summary.js before after count`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Snapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: unknown[] } };
  readonly nodes: number[];
  readonly strings: string[];
}

export interface HeapGroup {
  readonly name: string;
  readonly count: number;
  readonly bytes: number;
}

/** Self size and count per `type:name` of every node in the snapshot at `path`. */
export function heapGroups(path: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0] as string[];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!] ?? '?';
    const raw = snap.strings[snap.nodes[i + nameAt]!] ?? '?';
    // Strings and code are grouped by kind: their names are their contents.
    const name = type === 'object' || type === 'closure' || type === 'native' ? raw.slice(0, 60) : '';
    const key = `${type}:${name}`;
    const group = groups.get(key) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += snap.nodes[i + sizeAt]!;
    groups.set(key, group);
  }
  return groups;
}

/** What `after` holds beyond `before`, per `per` (e.g. per connection), largest first. */
export function heapGrowth(beforePath: string, afterPath: string, per: number): HeapGroup[] {
  const before = heapGroups(beforePath);
  const after = heapGroups(afterPath);
  const out: HeapGroup[] = [];
  for (const [name, group] of after) {
    const base = before.get(name) ?? { count: 0, bytes: 0 };
    out.push({ name, count: (group.count - base.count) / per, bytes: (group.bytes - base.bytes) / per });
  }
  return out.sort((a, b) => b.bytes - a.bytes);
}

export function formatGrowth(groups: readonly HeapGroup[], rows: number): string {
  const total = groups.reduce((sum, g) => sum + g.bytes, 0);
  const lines = groups
    .slice(0, rows)
    .map((g) => `  ${g.bytes.toFixed(0).padStart(7)} B  ${g.count.toFixed(2).padStart(7)} ×  ${g.name}`);
  return [`  ${total.toFixed(0).padStart(7)} B  in all`, ...lines].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [before, after, per] = process.argv.slice(2);
  if (before === undefined || after === undefined) {
    process.stderr.write('usage: node dist/bench/heap-summary.js <before.heapsnapshot> <after> [count]\n');
    process.exitCode = 2;
  } else {
    process.stdout.write(`${formatGrowth(heapGrowth(before, after, Number(per ?? 1)), 40)}\n`);
  }
}
