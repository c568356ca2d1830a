/**
 * grpc-js writes its own diagnostics to stderr (`console.error('E …')`), and some of them are about
 * what a client sent: a malformed header name in a call's metadata is logged at its ERROR level, once
 * per header. A client could fill the broker's stderr that way, unstructured and unbounded. While a
 * gRPC listener runs, grpc-js's log goes to that listener's logger at debug instead (`grpc-js`, with
 * the text as `detail`); the logger grpc-js had before is put back when the last listener closes.
 * grpc-js keeps one logger per process, so the most recently started listener's logger is used.
 */
import { format } from 'node:util';
import { setLogger } from '@grpc/grpc-js';
// Not re-exported by grpc-js's index: the logger in force, to put back.
import { getLogger } from '@grpc/grpc-js/build/src/logging.js';
import type { Logger } from '../../shared/logger.js';

/** Longest diagnostic kept; the rest of a line a client made long is cut. */
const detailCharsMax = 500;

const listeners: Logger[] = [];
let before: Partial<Console> | undefined;

function forward(message: unknown, ...rest: unknown[]): void {
  const logger = listeners[listeners.length - 1];
  logger?.debug({ detail: format(message, ...rest).slice(0, detailCharsMax) }, 'grpc-js');
}

const forwarder: Partial<Console> = { error: forward, info: forward, debug: forward };

/** Sends grpc-js's log to `logger` until the returned function is called. */
export function routeGrpcLog(logger: Logger): () => void {
  if (listeners.length === 0) {
    before = getLogger();
    setLogger(forwarder);
  }
  listeners.push(logger);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    listeners.splice(listeners.indexOf(logger), 1);
    if (listeners.length === 0 && before !== undefined) setLogger(before);
  };
}
