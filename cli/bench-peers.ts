/** What `switchyard bench` asks of a protocol: the settings of a run and its two connections. */
import type { Buffer } from 'node:buffer';

export interface BenchSettings {
  host: string;
  port: number;
  messages: number;
  size: number;
  qos: 0 | 1;
  window: number;
  user?: string | undefined;
  password?: string | undefined;
}

/** A run's `failure`: `fail` rejects it, unless `stop` came first (a run that ended closes its peers). */
export function failureSignal(): { failure: Promise<never>; fail(err: Error): void; stop(): void } {
  let stopped = false;
  let reject: (err: Error) => void = () => {};
  const failure = new Promise<never>((_, rejected) => {
    reject = rejected;
  });
  failure.catch(() => undefined);
  return {
    failure,
    fail: (err) => {
      if (!stopped) reject(err);
    },
    stop: () => {
      stopped = true;
    },
  };
}

/** How a run reaches the broker: a subscriber that reports each payload, and a publisher. */
export interface BenchPeers {
  subscribe(onPayload: (payload: Buffer) => void): Promise<void>;
  publisher(): Promise<(payload: Buffer) => void>;
  close(): void;
  /** Rejects when the run cannot go on (a connection lost, a send refused); absent: it never does. */
  readonly failure?: Promise<never>;
}
