/**
 * Child of test/server/logins.test.ts: hashes one password on a `ScryptPool`, prints the key's length,
 * then (default) does nothing more: the process must end by itself, as an idle pool never keeps it
 * alive. With `hold`, it stays alive instead, so the test can kill it and see its hashing process go.
 */
import { ScryptPool } from '../src/server/scrypt-pool.js';

const pool = new ScryptPool({ threads: 1, queueMax: 1 });
const key = await pool.hash({ password: 'guest', salt: new Uint8Array(16), cost: 1024, keyBytes: 32 });
process.stdout.write(`${key.byteLength}\n`);
if (process.argv[2] === 'hold') setInterval(() => {}, 1000);
