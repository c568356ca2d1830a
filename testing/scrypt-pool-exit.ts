/**
 * Child of test/server/logins.test.ts: hashes one password on a `ScryptPool` and then does nothing
 * more. The process must end by itself: an idle pool never keeps it alive. Prints the key's length.
 */
import { ScryptPool } from '../src/server/scrypt-pool.js';

const pool = new ScryptPool({ threads: 1, queueMax: 1 });
const key = await pool.hash({ password: 'guest', salt: new Uint8Array(16), cost: 1024, keyBytes: 32 });
process.stdout.write(`${key.byteLength}\n`);
