/**
 * Assertions catch programmer errors and stop the process; operating errors (bad peer input, disk
 * failures) are handled with `BrokerError` instead. Keep assertions cheap: they stay on in production.
 */
import { AssertionError } from 'node:assert';

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError({ message });
}

export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError({ message: `${message}: ${String(value)}` });
}
