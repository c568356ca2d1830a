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

/** How a run reaches the broker: a subscriber that reports each payload, and a publisher. */
export interface BenchPeers {
  subscribe(onPayload: (payload: Buffer) => void): Promise<void>;
  publisher(): Promise<(payload: Buffer) => void>;
  close(): void;
}
