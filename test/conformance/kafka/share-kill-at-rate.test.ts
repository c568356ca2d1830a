/**
 * A share group (KIP-932) accepting records as fast as ShareAcknowledge answers, with `switchyard
 * start` SIGKILLed mid-rate: after the restart no record whose acceptance was answered is handed out
 * again, and every other record is (a record acquired but not answered comes back), none lost. A
 * range whose acceptance was sent but not answered when the broker died may be either.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFilled, shareMember, startAtEarliest } from '../../../testing/kafka-share.js';
import { killMidRate, startKillBroker, Window, withKillBroker } from '../../../testing/kill-at-rate.js';
import { freePort } from '../../../testing/server-cli.js';

const names = { topic: 'share-rate', group: 'share-rate-group' };
const records = 10_000;
/** Small fetches, each accepted before the next: many acknowledgements, each awaiting its write. */
const recordsPerFetch = 10;
const recordsPerFetchAfter = 500;
const acceptedMin = 300;
/** Fetches of the member after the restart, at most (each hands out up to `recordsPerFetch`). */
const fetchesAfterMax = 200;
const accept = 1;

type Member = Awaited<ReturnType<typeof shareMember>>;

interface Acceptances {
  /** Offsets whose acceptance was answered. */
  readonly answered: Set<number>;
  /** Offsets whose acceptance was sent when the broker died: stored or not, either is right. */
  readonly unanswered: Set<number>;
}

/** Fetches and accepts every record handed out, one acknowledgement per range, until stopped. */
async function acceptAtRate(member: Member, window: Window, out: Acceptances): Promise<void> {
  let epoch = 0;
  while (!window.stopped) {
    let sent: number[] = [];
    try {
      const ranges = await member.fetch(epoch++, recordsPerFetch);
      if (ranges.length === 0) return;
      for (const [first, last] of ranges) {
        sent = Array.from({ length: last! - first! + 1 }, (_, i) => first! + i);
        await member.acknowledge(
          epoch++,
          first!,
          sent.map(() => accept),
        );
        for (const o of sent) out.answered.add(o);
        sent = [];
      }
    } catch {
      for (const o of sent) out.unanswered.add(o);
      return; // the broker died under the request
    }
  }
}

/** Everything a new member is handed after the restart, each range accepted as it comes. */
async function drainAfter(port: number): Promise<number[]> {
  const member = await shareMember(port, names, 'after');
  const handed: number[] = [];
  let epoch = 0;
  try {
    for (let i = 0; i < fetchesAfterMax; i++) {
      const ranges = await member.fetch(epoch++, recordsPerFetchAfter);
      if (ranges.length === 0) break;
      for (const [first, last] of ranges) {
        for (let o = first!; o <= last!; o++) handed.push(o);
        await member.acknowledge(
          epoch++,
          first!,
          Array.from({ length: last! - first! + 1 }, () => accept),
        );
      }
    }
  } finally {
    member.wire.close();
  }
  return handed;
}

test('share-group acceptances survive SIGKILL at full rate', { timeout: 150_000 }, async (t) => {
  const port = await freePort();
  await withKillBroker(
    () => startKillBroker({ kafka: port }, 'share-rate'),
    async (first, track) => {
      await createFilled(
        `127.0.0.1:${port}`,
        names.topic,
        Array.from({ length: records }, (_, i) => `r${i}`),
      );
      const member = await shareMember(port, names, 'before');
      await startAtEarliest(member.wire, names.group);
      const acceptances: Acceptances = { answered: new Set(), unanswered: new Set() };
      const accepted = acceptances.answered;
      const window = new Window(1);
      const accepting = acceptAtRate(member, window, acceptances);
      await killMidRate(first, () => accepted.size, acceptedMin);
      window.stop();
      await accepting;
      member.wire.close();

      track(await first.restart());
      const handed = await drainAfter(port);
      const again = handed.filter((o) => accepted.has(o));
      assert.deepEqual(again.slice(0, 10), [], 'no record whose acceptance was answered is handed out again');
      assert.equal(new Set(handed).size, handed.length, 'nothing handed out twice to an accepting member');
      const seen = new Set([...accepted, ...handed, ...acceptances.unanswered]);
      const lost = Array.from({ length: records }, (_, o) => o).filter((o) => !seen.has(o));
      assert.deepEqual(lost.slice(0, 10), [], 'every record accepted before or handed out after');
      t.diagnostic(
        `accepted ${accepted.size} before the kill (${acceptances.unanswered.size} unanswered), ${handed.length} handed out after`,
      );
    },
  );
});
