/**
 * Users' SCRAM credentials (RFC 5802) in the definitions file, beside `password_hash`, so a user that
 * has only SCRAM credentials (made by Kafka's AlterUserScramCredentials) survives an export and import,
 * and one with a password keeps the credentials its SCRAM clients log in with:
 *
 *   "scram_credentials": { "SCRAM-SHA-256": { "salt", "iterations", "stored_key", "server_key" }, … }
 *
 * Bytes are base64. Neither key lets anyone log in, nor gives the password back; the file is as
 * sensitive as its password hashes.
 */
import type { CoreClient } from '../core/api.js';
import {
  digestOf,
  isScramMechanism,
  type ScramCredential,
  scramIterationsMax,
  scramIterationsMin,
  scramMechanisms,
} from '../core/scram.js';
import { HttpError } from './errors.js';
import type { Json } from './json.js';

type JsonObject = { readonly [key: string]: Json };

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** A salt longer than this is no salt a client or Kafka made. */
const saltBytesMax = 1024;

function badRequest(reason: string): never {
  throw new HttpError(400, 'bad_request', reason);
}

/** `{scram_credentials}` for a user that has any, `{}` otherwise. */
export function scramJson(core: CoreClient, user: string): JsonObject {
  const credentials = core.scramCredentials(user) ?? {};
  const out: Record<string, Json> = {};
  for (const mechanism of scramMechanisms) {
    const credential = credentials[mechanism];
    if (credential === undefined) continue;
    const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
    out[mechanism] = {
      salt: text(credential.salt),
      iterations: credential.iterations,
      stored_key: text(credential.storedKey),
      server_key: text(credential.serverKey),
    };
  }
  return Object.keys(out).length === 0 ? {} : { scram_credentials: out };
}

function bytesField(body: JsonObject, name: string, what: string, length?: number): Buffer {
  const value = body[name];
  if (typeof value !== 'string' || value === '' || !base64.test(value))
    badRequest(`${what}: '${name}' must be base64`);
  const bytes = Buffer.from(value, 'base64');
  if (length !== undefined && bytes.length !== length)
    badRequest(`${what}: '${name}' must be ${length} bytes`);
  if (bytes.length > saltBytesMax) badRequest(`${what}: '${name}' is too long`);
  return bytes;
}

function credentialOf(value: Json | undefined, what: string, keyBytes: number): ScramCredential {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    badRequest(`${what} must be an object`);
  const body = value as JsonObject;
  const iterations = body['iterations'];
  if (typeof iterations !== 'number' || !Number.isInteger(iterations))
    badRequest(`${what}: 'iterations' must be an integer`);
  if (iterations < scramIterationsMin || iterations > scramIterationsMax)
    badRequest(`${what}: 'iterations' must be ${scramIterationsMin} to ${scramIterationsMax}`);
  return {
    salt: bytesField(body, 'salt', what),
    iterations,
    storedKey: bytesField(body, 'stored_key', what, keyBytes),
    serverKey: bytesField(body, 'server_key', what, keyBytes),
  };
}

/**
 * A user's `scram_credentials` from the file, checked before anything is written; undefined when the
 * file has none for it (an older file, or RabbitMQ's): the user is then left as `password_hash` made it.
 */
export function scramCredentialsIn(user: JsonObject): Map<string, ScramCredential> | undefined {
  const value = user['scram_credentials'];
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    badRequest("'scram_credentials' must be an object");
  const out = new Map<string, ScramCredential>();
  for (const [mechanism, credential] of Object.entries(value)) {
    if (!isScramMechanism(mechanism)) badRequest(`Unknown SCRAM mechanism '${mechanism}'`);
    out.set(mechanism, credentialOf(credential, mechanism, digestOf(mechanism).bytes));
  }
  return out;
}

/** Sets the user's SCRAM credentials to exactly those of the file (after `putUser` made the user). */
export async function importScram(
  core: CoreClient,
  name: string,
  credentials: Map<string, ScramCredential>,
): Promise<void> {
  const held = core.scramCredentials(name) ?? {};
  for (const mechanism of scramMechanisms) {
    const credential = credentials.get(mechanism);
    if (credential !== undefined) await core.setScramCredential(name, mechanism, credential);
    else if (held[mechanism] !== undefined) await core.setScramCredential(name, mechanism, null);
  }
}
