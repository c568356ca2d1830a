/**
 * The one bounded wait of the tests. A test waits for what a user would see (a message arrived, a
 * count reached), never for a fixed time; the timeout only decides how long a failing test takes, so
 * it is generous for a loaded machine.
 */

/** Describes what was awaited, for the failure message; a function is called only on failure. */
export type Awaited = string | (() => string);

/** Waits for `check` to hold (it may be async), polling every 10 ms; fails after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what: Awaited = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`${typeof what === 'string' ? what : what()} not met within ${timeoutMs} ms`);
    }
    await sleep(10);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `run` on every item, at most `concurrency` at once, and resolves when all have; the first
 * rejection rejects. For requests that each wait on the broker's own timer (a long poll, a wait
 * time): sent one after another, their waits add up.
 */
export async function eachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  run: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) await run(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
}
