/**
 * The server-side assignors of KIP-848 consumer groups: `uniform` (even spread, sticky: members keep
 * what they had while the spread stays within one partition) and `range` (per topic, contiguous ranges
 * in member id order, as the classic range assignor). Both are pure: members, their subscriptions, the
 * partition counts and the previous target in, the new target out.
 */

/** Topic → partition indexes. */
export type Assignment = Map<string, Set<number>>;

export interface AssignorMember {
  readonly id: string;
  readonly topics: readonly string[];
  /** The member's previous target, for stickiness. */
  readonly previous: Assignment;
}

/** `partitions(topic)` is the topic's partition count, or undefined when it does not exist. */
export type Assignor = (
  members: readonly AssignorMember[],
  partitions: (topic: string) => number | undefined,
) => Map<string, Assignment>;

export const assignorNames = ['uniform', 'range'] as const;
export type AssignorName = (typeof assignorNames)[number];
export const defaultAssignor: AssignorName = 'uniform';

export function isAssignorName(name: string): name is AssignorName {
  return (assignorNames as readonly string[]).includes(name);
}

/** Moves made per rebalance of the uniform assignor, whatever the group's size. */
const uniformMovesMax = 1_000_000;

function add(a: Assignment, topic: string, partition: number): void {
  const set = a.get(topic) ?? new Set<number>();
  set.add(partition);
  a.set(topic, set);
}

function sizeOf(a: Assignment): number {
  let n = 0;
  for (const set of a.values()) n += set.size;
  return n;
}

function emptyTargets(members: readonly AssignorMember[]): Map<string, Assignment> {
  return new Map(members.map((m) => [m.id, new Map()]));
}

/** Every subscribed topic that exists, sorted, with the members subscribed to it in id order. */
function subscribers(
  members: readonly AssignorMember[],
  partitions: (topic: string) => number | undefined,
): Array<{ topic: string; count: number; members: string[] }> {
  const byTopic = new Map<string, string[]>();
  for (const m of [...members].sort((a, b) => (a.id < b.id ? -1 : 1)))
    for (const topic of new Set(m.topics)) {
      if (partitions(topic) === undefined) continue;
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), m.id]);
    }
  return [...byTopic]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([topic, ids]) => ({ topic, count: partitions(topic) ?? 0, members: ids }));
}

export const rangeAssignor: Assignor = (members, partitions) => {
  const out = emptyTargets(members);
  for (const { topic, count, members: ids } of subscribers(members, partitions)) {
    const per = Math.floor(count / ids.length);
    const extra = count % ids.length;
    let next = 0;
    ids.forEach((id, i) => {
      const take = per + (i < extra ? 1 : 0);
      for (let k = 0; k < take; k++) add(out.get(id)!, topic, next++);
    });
  }
  return out;
};

export const uniformAssignor: Assignor = (members, partitions) => {
  const out = emptyTargets(members);
  const topics = subscribers(members, partitions);
  const eligible = new Map(topics.map((t) => [t.topic, t.members]));
  const taken = new Set<string>();
  // Sticky: a member keeps what it had, if it still subscribes and the partition still exists.
  for (const m of members)
    for (const [topic, set] of m.previous)
      for (const p of set) {
        const key = `${p}:${topic}`;
        if (!eligible.get(topic)?.includes(m.id) || p >= (partitions(topic) ?? 0) || taken.has(key)) continue;
        taken.add(key);
        add(out.get(m.id)!, topic, p);
      }
  const load = (id: string): number => sizeOf(out.get(id)!);
  const lightest = (ids: readonly string[]): string =>
    ids.reduce((best, id) => (load(id) < load(best) ? id : best), ids[0]!);
  for (const { topic, count, members: ids } of topics)
    for (let p = 0; p < count; p++) if (!taken.has(`${p}:${topic}`)) add(out.get(lightest(ids))!, topic, p);
  balance(out, topics, uniformMovesMax);
  return out;
};

/** Moves partitions from the most to the least loaded eligible member until no two differ by more than one. */
function balance(
  out: Map<string, Assignment>,
  topics: ReadonlyArray<{ topic: string; members: string[] }>,
  movesMax: number,
): void {
  const load = (id: string): number => sizeOf(out.get(id)!);
  for (let moves = 0; moves < movesMax; moves++) {
    let moved = false;
    for (const { topic, members: ids } of topics) {
      const heavy = ids.reduce((a, b) => (load(b) > load(a) ? b : a), ids[0]!);
      const light = ids.reduce((a, b) => (load(b) < load(a) ? b : a), ids[0]!);
      const from = out.get(heavy)!.get(topic);
      if (load(heavy) - load(light) <= 1 || from === undefined || from.size === 0) continue;
      const p = Math.max(...from);
      from.delete(p);
      if (from.size === 0) out.get(heavy)!.delete(topic);
      add(out.get(light)!, topic, p);
      moved = true;
    }
    if (!moved) return;
  }
}

export const assignors: Readonly<Record<AssignorName, Assignor>> = {
  uniform: uniformAssignor,
  range: rangeAssignor,
};
