/**
 * A password-hashing process of `ScryptPool` (./scrypt-pool.ts). It runs scrypt synchronously, one job
 * at a time, so hashing never takes a slot of the broker's libuv thread pool, where its file I/O runs,
 * nor frees scrypt's large block in the broker's allocator. It ends when its parent goes.
 */
import { scryptSync } from 'node:crypto';

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

process.on('disconnect', () => process.exit(0));

process.on('message', (job: ScryptRequest) => {
  let reply: ScryptReply;
  try {
    const maxmem = blockBytes * job.cost * 2;
    const key = scryptSync(job.password, job.salt, job.keyBytes, { N: job.cost, r: 8, p: 1, maxmem });
    reply = { id: job.id, key: new Uint8Array(key) };
  } catch (err) {
    reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
  }
  process.send?.(reply);
});
