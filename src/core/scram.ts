/**
 * SCRAM credentials (RFC 5802 §3, RFC 7677): what the broker keeps so a client can prove it knows a
 * password without sending it. Per mechanism a user has a salt, an iteration count, StoredKey =
 * H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword, "Server Key"), where
 * SaltedPassword = PBKDF2(HMAC-H, password, salt, iterations). Neither key lets anyone log in, nor
 * gives the password back. The exchange that checks a client's proof is the server's (src/server/scram.ts).
 *
 * Passwords are taken as UTF-8 bytes without SASLprep, as Kafka and its clients do.
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';

export const scramMechanisms = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type ScramMechanism = (typeof scramMechanisms)[number];

export function isScramMechanism(name: string): name is ScramMechanism {
  return (scramMechanisms as readonly string[]).includes(name);
}

export interface ScramCredential {
  readonly salt: Uint8Array;
  readonly iterations: number;
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

/** A user's credentials by mechanism; a mechanism without one is absent. */
export type ScramCredentials = Readonly<Partial<Record<ScramMechanism, ScramCredential>>>;

/** Kafka's bounds on iterations (ScramMechanism.minIterations, and its controller's upper bound). */
export const scramIterationsMin = 4096;
export const scramIterationsMax = 16_384;
/** What a password set here is hashed with: Kafka's default, the RFC 7677 recommendation. */
export const scramIterationsDefault = 4096;
const saltBytes = 24;

const digests: Readonly<Record<ScramMechanism, { hash: 'sha256' | 'sha512'; bytes: number }>> = {
  'SCRAM-SHA-256': { hash: 'sha256', bytes: 32 },
  'SCRAM-SHA-512': { hash: 'sha512', bytes: 64 },
};

export function digestOf(mechanism: ScramMechanism): { hash: 'sha256' | 'sha512'; bytes: number } {
  return digests[mechanism];
}

export function hmac(mechanism: ScramMechanism, key: Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac(digests[mechanism].hash, key).update(data).digest();
}

export function digest(mechanism: ScramMechanism, data: Uint8Array): Buffer {
  return createHash(digests[mechanism].hash).update(data).digest();
}

/** StoredKey and ServerKey from SaltedPassword (what Kafka's AlterUserScramCredentials sends). */
export function credentialFromSalted(
  mechanism: ScramMechanism,
  saltedPassword: Uint8Array,
  salt: Uint8Array,
  iterations: number,
): ScramCredential {
  const clientKey = hmac(mechanism, saltedPassword, 'Client Key');
  return {
    salt: Uint8Array.from(salt),
    iterations,
    storedKey: digest(mechanism, clientKey),
    serverKey: hmac(mechanism, saltedPassword, 'Server Key'),
  };
}

/** SaltedPassword := Hi(password, salt, i), run on libuv's pool (once per password, not per login). */
export function saltedPassword(
  mechanism: ScramMechanism,
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Buffer> {
  const { hash, bytes } = digests[mechanism];
  return new Promise((resolve, reject) => {
    pbkdf2(Buffer.from(password, 'utf8'), salt, iterations, bytes, hash, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Credentials for every mechanism from a password, each with a fresh salt. */
export async function scramCredentialsOf(
  password: string,
  iterations = scramIterationsDefault,
): Promise<ScramCredentials> {
  const out: Partial<Record<ScramMechanism, ScramCredential>> = {};
  for (const mechanism of scramMechanisms) {
    const salt = randomBytes(saltBytes);
    out[mechanism] = credentialFromSalted(
      mechanism,
      await saltedPassword(mechanism, password, salt, iterations),
      salt,
      iterations,
    );
  }
  return out;
}
