/**
 * The share groups' assignor (KIP-932's `simple`): every partition of a subscribed topic goes to at
 * least one member subscribed to it, and to more only when members outnumber partitions, so a group's
 * records spread over its members partition by partition (a member alone does not take every record
 * of the group while others wait), and each member shares a partition with the fewest others it can.
 * Balance first, then stickiness: a member keeps what it had while it stays within its share.
 */
import type { Assignment, Assignor } from './assignors.js';

interface Target {
  readonly topic: string;
  readonly partition: number;
  /** Members subscribed to the topic, by id. */
  readonly eligible: readonly string[];
  /** How many of them get it. */
  sharing: number;
}

function targetsOf(
  members: ReadonlyArray<{ readonly id: string; readonly topics: readonly string[] }>,
  partitions: (topic: string) => number | undefined,
): Target[] {
  const subscribers = new Map<string, string[]>();
  for (const m of [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)))
    for (const t of new Set(m.topics)) subscribers.set(t, [...(subscribers.get(t) ?? []), m.id]);
  const targets: Target[] = [];
  for (const topic of [...subscribers.keys()].sort()) {
    const count = partitions(topic) ?? 0;
    for (let partition = 0; partition < count; partition++)
      targets.push({ topic, partition, eligible: subscribers.get(topic)!, sharing: 1 });
  }
  // As many members per partition as it takes for each to have one: ceil(members / partitions) among
  // the partitions its subscribers can read.
  const reach = new Map<string, number>();
  for (const t of targets) for (const id of t.eligible) reach.set(id, (reach.get(id) ?? 0) + 1);
  for (const t of targets) {
    const widest = Math.max(...t.eligible.map((id) => reach.get(id) ?? 1));
    t.sharing = Math.max(1, Math.ceil(t.eligible.length / widest));
  }
  return targets;
}

export const shareAssignor: Assignor = (members, partitions) => {
  const out = new Map<string, Assignment>(members.map((m) => [m.id, new Map()]));
  const targets = targetsOf(members, partitions);
  // A member's fair share: its part of every partition it may read.
  const cap = new Map<string, number>();
  for (const t of targets)
    for (const id of t.eligible) cap.set(id, (cap.get(id) ?? 0) + t.sharing / t.eligible.length);
  const load = new Map<string, number>();
  const holders = targets.map(() => new Set<string>());
  const give = (i: number, id: string): void => {
    const t = targets[i]!;
    holders[i]!.add(id);
    load.set(id, (load.get(id) ?? 0) + 1);
    const a = out.get(id)!;
    a.set(t.topic, (a.get(t.topic) ?? new Set()).add(t.partition));
  };
  const previous = new Map(members.map((m) => [m.id, m.previous]));
  targets.forEach((t, i) => {
    for (const id of t.eligible) {
      if (holders[i]!.size >= t.sharing) break;
      const had = previous.get(id)?.get(t.topic)?.has(t.partition) ?? false;
      if (had && (load.get(id) ?? 0) < Math.ceil(cap.get(id) ?? 0)) give(i, id);
    }
  });
  targets.forEach((t, i) => {
    while (holders[i]!.size < t.sharing) {
      const free = t.eligible.filter((id) => !holders[i]!.has(id));
      const next = free.reduce((best, id) => ((load.get(id) ?? 0) < (load.get(best) ?? 0) ? id : best));
      give(i, next);
    }
  });
  return out;
};
