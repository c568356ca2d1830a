/**
 * A bearer token for the fuzzers' recorded KubeMQ sessions, so that mutations reach the JWT validator
 * too: an HS256 key derived from a fixed phrase (it guards nothing but a fuzzed broker on loopback),
 * written to a temporary file at run time and given to the fuzzed broker as `--jwt-keys fuzz=<file>`,
 * and a token with every scope that expires in 2100.
 */
import { createHash, createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const secret = createHash('sha256').update('switchyard fuzzing key').digest();

/** The `--jwt-keys` value for a fuzzed broker (the key file is written on first use). */
export function fuzzJwtKeys(): string {
  const file = join(tmpdir(), `switchyard-fuzz-jwt-${process.pid}.key`);
  writeFileSync(file, secret);
  return `fuzz=${file}`;
}

const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A token the fuzzed broker accepts: user `fuzz`, every permission and topic on every vhost. */
export function fuzzToken(): string {
  const input = `${part({ alg: 'HS256', typ: 'JWT', kid: 'fuzz' })}.${part({
    sub: 'fuzz',
    aud: 'switchyard',
    exp: 4_102_444_800,
    scope: [
      'switchyard.configure:*/*',
      'switchyard.write:*/*/*',
      'switchyard.read:*/*/*',
      'switchyard.tag:management',
    ],
  })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
