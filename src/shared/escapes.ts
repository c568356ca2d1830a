/**
 * The last line of defence: an error that escaped every owner's executor and reached the event loop
 * (an uncaught exception or an unhandled rejection). Each one is a bug — every piece of deferred work
 * belongs to an owner whose executor catches its errors — so the guard logs it with its stack and
 * counts it (`switchyard_escaped_errors_total`) instead of letting it end the process and cut off
 * every client. Only the `switchyard` command installs it: an embedding process keeps its own policy.
 */
import type { Logger } from './logger.js';

/** Errors that escaped since start. */
export const escapes = { count: 0 };

/** The log message of an escape; tests look for it in a broker's stderr. */
export const escapeMessage = 'bug: an error escaped its owner';

export function installEscapeGuard(logger: Logger): () => void {
  const onError = (err: unknown, origin: string) => {
    escapes.count++;
    logger.error({ err, origin }, escapeMessage);
  };
  const onException = (err: Error, origin: string) => onError(err, origin);
  const onRejection = (reason: unknown) => onError(reason, 'unhandledRejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
