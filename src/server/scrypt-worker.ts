/**
 * A password-hashing thread of `ScryptPool` (./scrypt-pool.ts). It runs scrypt synchronously, one job
 * at a time, so hashing never takes a slot of libuv's thread pool, where the broker's file I/O runs.
 */
import { scryptSync } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

export interface ScryptRequest {
  readonly id: number;
  readonly password: string;
  readonly salt: Uint8Array;
  readonly cost: number;
  readonly keyBytes: number;
}

export type ScryptReply =
  | { readonly id: number; readonly key: Uint8Array }
  | { readonly id: number; readonly error: string };

/** scrypt needs 128 · N · r bytes; room for that and a little more, whatever the stored cost. */
const blockBytes = 128 * 8;

parentPort?.on('message', (job: ScryptRequest) => {
  let reply: ScryptReply;
  try {
    const maxmem = blockBytes * job.cost * 2;
    const key = scryptSync(job.password, job.salt, job.keyBytes, { N: job.cost, r: 8, p: 1, maxmem });
    reply = { id: job.id, key: new Uint8Array(key) };
  } catch (err) {
    reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  parentPort?.postMessage(reply);
});
