/**
 * Reads a fuzzed broker's log (JSON lines on stderr) as it arrives. An escaped error, any line at
 * error level or above and the warnings of `faultWarnings` are faults; other warnings are counted by message, with a few distinct error texts
 * each, so a report shows what the broker refused and how.
 */
import { escapeMessage } from '../../src/shared/escapes.js';

const errorLevel = 50;
const warnLevel = 40;
const samplesMax = 3;

/**
 * Warnings that mean a handler met an error nobody expected (not a protocol violation it refuses on
 * purpose): the connection is dropped with an unspecific reason, which is a bug in that handler.
 */
export const faultWarnings: ReadonlySet<string> = new Set([
  'mqtt handler failed',
  'kubemq: a REST request failed',
]);

export interface LogFault {
  readonly message: string;
  readonly line: string;
  /** The message, the error and the top of its stack, on one line. */
  readonly brief: string;
}

const stackFramesKept = 4;

function brief(
  message: string,
  err: { message?: string; type?: string; stack?: string } | undefined,
): string {
  if (err === undefined) return message;
  const frames = (err.stack ?? '')
    .split('\n')
    .slice(1, 1 + stackFramesKept)
    .map((f) => f.trim());
  return `${message}: ${err.type ?? 'Error'} ${err.message ?? ''} ${frames.length > 0 ? `(${frames.join(' < ')})` : ''}`.trim();
}

export class BrokerLog {
  readonly faults: LogFault[] = [];
  readonly warnings = new Map<string, { count: number; samples: string[] }>();
  #partial = '';

  /** Feeds a piece of stderr. */
  push(chunk: string): void {
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) this.#line(line);
  }

  #line(line: string): void {
    if (line.trim() === '') return;
    let entry: { level?: number; msg?: string; err?: { message?: string; type?: string; stack?: string } };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      this.faults.push({ message: 'not a log line (a crash trace?)', line, brief: line.slice(0, 500) });
      return;
    }
    const message = entry.msg ?? '';
    if (message === escapeMessage || (entry.level ?? 0) >= errorLevel || faultWarnings.has(message)) {
      this.faults.push({ message, line, brief: brief(message, entry.err) });
      return;
    }
    if ((entry.level ?? 0) < warnLevel) return;
    const seen = this.warnings.get(message) ?? { count: 0, samples: [] };
    seen.count++;
    const sample = `${entry.err?.type ?? ''} ${entry.err?.message ?? ''}`.trim();
    if (sample !== '' && seen.samples.length < samplesMax && !seen.samples.includes(sample))
      seen.samples.push(sample);
    this.warnings.set(message, seen);
  }
}
