/**
 * Login checks shared by every protocol. Like RabbitMQ, users listed in `loopbackOnlyUsers` (by
 * default `guest`) may only connect from a loopback address, so the well-known default password
 * cannot be used from another machine.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Config } from '../config/schema.js';
import type { CoreBroker } from '../core/api.js';
import { internalContext } from '../core/entry/context.js';
import type { Authenticator } from '../protocols/listener.js';

export type { Authenticator, LoginResult } from '../protocols/listener.js';

type UserVerifier = (name: string, password: string) => boolean | Promise<boolean>;

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

// Hashing first gives equal-length inputs, so the comparison time says nothing about the password.
function sameSecret(a: string, b: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}

export function createAuthenticator(
  config: Pick<Config, 'defaultUser' | 'defaultPass' | 'loopbackOnlyUsers'>,
  core?: CoreBroker,
): Authenticator {
  // Without a core (tests of this module alone) the default user is the only user.
  const client = core?.connect(internalContext('/', 'auth'));
  const verify: UserVerifier =
    client === undefined
      ? (user, password) => user === config.defaultUser && sameSecret(password, config.defaultPass)
      : (user, password) => client.verifyUser(user, password);
  const loopbackOnly = new Set(config.loopbackOnlyUsers);
  return {
    async login(user, password, remoteAddress) {
      if (!(await verify(user, password))) return { ok: false, reason: 'credentials' };
      if (loopbackOnly.has(user) && !isLoopback(remoteAddress)) return { ok: false, reason: 'loopback_only' };
      return { ok: true };
    },
  };
}
