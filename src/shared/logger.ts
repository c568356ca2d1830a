/**
 * Structured logs (JSON lines, pino) on stderr, so stdout carries only what scripts read: the ready
 * line. Writes are synchronous: log volume is low (lifecycle and errors, not per message), and a
 * synchronous stream cannot lose the last lines when the process exits right after writing them.
 */
import { pino } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export type Logger = pino.Logger;

export interface LoggerOptions {
  level: LogLevel;
  /** Defaults to stderr (fd 2). */
  fd?: number;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = pino.destination({ fd: options.fd ?? 2, sync: true });
  return pino({ level: options.level, base: { name: 'switchyard' } }, destination);
}

/** A logger that writes nothing, for tests and embedders that bring no logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
