/**
 * Publisher confirms (RabbitMQ extension, confirm class 85): every publish on a confirm channel gets
 * the next sequence number; core says when each is safe (`confirmed`) or refused. Outcomes arrive in
 * any order but are sent in publish order, consecutive equal outcomes as one `multiple` frame, so a
 * client never sees a later tag confirmed before an earlier one.
 *
 * Publishes made one after another that core confirms with the same promise (the messages of one group
 * commit share theirs) form one run of tags, settled by one reaction: a burst costs a reaction per
 * commit, not per message.
 */
export type ConfirmOutcome = 'ack' | 'nack';

/** Tags `first` to `last`, settled together. */
interface Run {
  readonly first: number;
  last: number;
  outcome: ConfirmOutcome | undefined;
}

export class ConfirmTracker {
  #nextTag = 1;
  #pending: Run[] = [];
  #head = 0;
  #flushQueued = false;
  /** The promise the newest run waits on, while that run is still open to more tags. */
  #lastConfirmed: Promise<void> | undefined;
  readonly #send: (outcome: ConfirmOutcome, tag: number, multiple: boolean, count: number) => void;

  /** `send` writes one frame settling `count` tags up to `tag`. */
  constructor(send: (outcome: ConfirmOutcome, tag: number, multiple: boolean, count: number) => void) {
    this.#send = send;
  }

  /** Takes the next sequence number for a publish whose fate `confirmed` decides. */
  track(confirmed: Promise<void>): void {
    const tag = this.#nextTag++;
    const newest = this.#pending[this.#pending.length - 1];
    // Joins the newest run while its promise's reaction has not run yet.
    if (confirmed === this.#lastConfirmed && newest !== undefined && newest.outcome === undefined) {
      newest.last = tag;
      return;
    }
    const run: Run = { first: tag, last: tag, outcome: undefined };
    this.#pending.push(run);
    this.#lastConfirmed = confirmed;
    confirmed.then(
      () => this.#settle(run, 'ack'),
      () => this.#settle(run, 'nack'),
    );
  }

  /** A publish settled at once (unroutable, direct reply-to). */
  settleNow(outcome: ConfirmOutcome): void {
    const tag = this.#nextTag++;
    const run: Run = { first: tag, last: tag, outcome: undefined };
    this.#pending.push(run);
    this.#lastConfirmed = undefined;
    this.#settle(run, outcome);
  }

  #settle(run: Run, outcome: ConfirmOutcome): void {
    run.outcome = outcome;
    if (this.#flushQueued) return;
    // Outcomes settled in the same turn (one group commit) leave as one `multiple` frame.
    this.#flushQueued = true;
    process.nextTick(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #flush(): void {
    while (this.#head < this.#pending.length) {
      const first = this.#pending[this.#head]!;
      if (first.outcome === undefined) break;
      let last = first;
      let i = this.#head + 1;
      while (i < this.#pending.length && this.#pending[i]!.outcome === first.outcome)
        last = this.#pending[i++]!;
      this.#head = i;
      this.#send(first.outcome, last.last, last.last !== first.first, last.last - first.first + 1);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
  }
}
