/**
 * Publisher confirms (RabbitMQ extension, confirm class 85): every publish on a confirm channel gets
 * the next sequence number; core says when each is safe (`confirmed`) or refused. Outcomes arrive in
 * any order but are sent in publish order, consecutive equal outcomes as one `multiple` frame, so a
 * client never sees a later tag confirmed before an earlier one.
 */
export type ConfirmOutcome = 'ack' | 'nack';

export class ConfirmTracker {
  #nextTag = 1;
  #pending: Array<{ tag: number; outcome: ConfirmOutcome | undefined }> = [];
  #head = 0;
  #flushQueued = false;
  readonly #send: (outcome: ConfirmOutcome, tag: number, multiple: boolean) => void;

  constructor(send: (outcome: ConfirmOutcome, tag: number, multiple: boolean) => void) {
    this.#send = send;
  }

  /** Takes the next sequence number for a publish whose fate `confirmed` decides. */
  track(confirmed: Promise<void>): void {
    const entry: { tag: number; outcome: ConfirmOutcome | undefined } = {
      tag: this.#nextTag++,
      outcome: undefined,
    };
    this.#pending.push(entry);
    confirmed.then(
      () => this.#settle(entry, 'ack'),
      () => this.#settle(entry, 'nack'),
    );
  }

  /** A publish settled at once (unroutable, direct reply-to). */
  settleNow(outcome: ConfirmOutcome): void {
    const entry = { tag: this.#nextTag++, outcome: undefined };
    this.#pending.push(entry);
    this.#settle(entry, outcome);
  }

  #settle(entry: { outcome: ConfirmOutcome | undefined }, outcome: ConfirmOutcome): void {
    entry.outcome = outcome;
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
      this.#send(first.outcome, last.tag, last !== first);
    }
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
  }
}
