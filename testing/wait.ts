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
