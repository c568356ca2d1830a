/** Bounded pipelining: at most `size` requests in flight; `room()` waits for a free slot. */
export class Window {
  readonly size: number;
  #inflight = 0;
  #waiters: Array<() => void> = [];
  #idle: Array<() => void> = [];

  constructor(size: number) {
    this.size = size;
  }

  get inflight(): number {
    return this.#inflight;
  }

  /** Counts `promise` in flight until it settles. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.#inflight++;
    const done = () => {
      this.#inflight--;
      if (this.#inflight < this.size) for (const w of this.#waiters.splice(0)) w();
      if (this.#inflight === 0) for (const w of this.#idle.splice(0)) w();
    };
    promise.then(done, done);
    return promise;
  }

  room(): Promise<void> {
    if (this.#inflight < this.size) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Resolves when nothing is in flight, or with false after `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.#inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
