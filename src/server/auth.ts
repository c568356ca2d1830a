/**
 * The one login gate every protocol uses (AMQP PLAIN/AMQPLAIN/EXTERNAL, MQTT CONNECT, the admin API,
 * KubeMQ's `authorization`): passwords, JWT bearer tokens (`loginWithToken`, ./jwt.ts) and users named
 * by a verified client certificate (`loginWithCertificate`). Like RabbitMQ, users
 * listed in `loopbackOnlyUsers` (by default `guest`) may only connect from a loopback address, so
 * the well-known default password cannot be used from another machine.
 *
 * A login that needs a password hash goes, in this order, through:
 *   1. core's cache of credentials verified a moment ago, and its sharing of identical checks
 *      under way (src/core/login-cache.ts): a hit costs no hash and skips the steps below;
 *   2. the per-address throttle (./login-throttle.ts): attempts under way per address, and the
 *      spacing of attempts from an address with recent failures;
 *   3. the bounded hashing queue and its threads (./scrypt-pool.ts), off libuv's I/O pool.
 * The connection's abort signal runs through all of them: a client that goes stops its wait and,
 * if nobody else waits for the same hash, the hash itself unless a thread has it already.
 *
 * A token costs no hash: it waits for its address's turn in the throttle, is verified at once, and a
 * refused one counts as a failed login of the address like a wrong password (and is logged with the
 * reason, `token: expired`, `token: signature`, …).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Config, configDefault } from '../config/schema.js';
import type { CoreBroker, PasswordHashJob, VerifyOptions } from '../core/api.js';
import { internalContext } from '../core/entry/context.js';
import type { ScramCredential, ScramMechanism } from '../core/scram.js';
import type {
  Authenticator,
  LoginRefused,
  LoginResult,
  SaslExchange,
  SaslRefusal,
  SaslStep,
} from '../protocols/listener.js';
import { ErrorCode, isBrokerError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { isLoopback } from '../shared/net.js';
import { FailedLoginLog } from './failed-logins.js';
import { type JwtValidator, looksLikeJwt, type TokenRefusal } from './jwt.js';
import { LoginThrottle } from './login-throttle.js';
import { ScramServerExchange } from './scram.js';
import { autoHashThreads, ScryptPool } from './scrypt-pool.js';
import { parseScopes, ScopePermissions } from './token-scopes.js';

export type { Authenticator, LoginResult } from '../protocols/listener.js';

type UserVerifier = (name: string, password: string, options?: VerifyOptions) => Promise<boolean>;

export type LoginSettings = Pick<
  Config,
  | 'passwordHashThreads'
  | 'loginQueueMax'
  | 'loginPendingPerAddressMax'
  | 'loginFailuresBeforeDelay'
  | 'loginFailureDelayMs'
  | 'loginFailureDelayMsMax'
  | 'loginFailureWindowMs'
  | 'loginFailureAddressesMax'
>;

export type AuthenticatorConfig = Pick<Config, 'defaultUser' | 'defaultPass' | 'loopbackOnlyUsers'> &
  Partial<LoginSettings> &
  Partial<Pick<Config, 'anonymousUser'>> & {
    /** Verifies bearer tokens; without it token logins are refused (none configured). */
    readonly jwt?: JwtValidator | undefined;
    /** The hashing pool to use (`hashingPoolOf`), shared with core; the gate makes its own without. */
    readonly hashing?: ScryptPool | undefined;
  };

/** The password-hashing pool the settings ask for. */
export function hashingPoolOf(config: Partial<LoginSettings>): ScryptPool {
  const settings: LoginSettings = { ...configDefault, ...definedOnly(config) };
  return new ScryptPool({
    threads: settings.passwordHashThreads === 0 ? autoHashThreads() : settings.passwordHashThreads,
    queueMax: settings.loginQueueMax,
  });
}

/** Who a client without credentials is when no `anonymousUser` is configured (loopback peers only). */
export const loopbackAnonymousUser = 'guest';

export { isLoopback };

// Hashing first gives equal-length inputs, so the comparison time says nothing about the password.
function sameSecret(a: string, b: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}

const refusedCredentials: LoginRefused = { ok: false, reason: 'credentials' };
const refusedBusy: LoginRefused = { ok: false, reason: 'busy' };
const refusedAnonymous: LoginRefused = { ok: false, reason: 'anonymous' };
const refusedLoopbackOnly: LoginRefused = { ok: false, reason: 'loopback_only' };

export interface LoginStats {
  /** Hashing threads started (they start as needed), hashes computed since start. */
  readonly hashThreads: number;
  readonly hashes: number;
  /** Logins on a hashing process now, and waiting for one. */
  readonly hashing: number;
  readonly queued: number;
  /** Addresses with recent failed logins remembered. */
  readonly throttledAddresses: number;
}

/** The server's authenticator; `close` stops the hashing processes of a pool it made itself. */
export interface LoginGate extends Authenticator {
  stats(): LoginStats;
  close(): Promise<void>;
}

/**
 * `logger` hears of refused logins (./failed-logins.ts: rate-limited, with the source address); `now`
 * is its clock.
 */
export function createAuthenticator(
  config: AuthenticatorConfig,
  core?: CoreBroker,
  logger?: Logger,
  now?: () => number,
): LoginGate {
  const settings: LoginSettings = { ...configDefault, ...definedOnly(config) };
  const pool = config.hashing ?? hashingPoolOf(config);
  const throttle = throttleOf(settings);
  const { verify, tagsOf, scramOf } = usersOf(config, core);
  const loopbackOnly = new Set(config.loopbackOnlyUsers);
  const anonymousUser = config.anonymousUser ?? '';
  const failures = new FailedLoginLog(logger, now);
  /** Logs the refusal (`why`: a finer reason than the protocols are told) and returns it. */
  const refused = (user: string, address: string | undefined, result: LoginRefused, why?: string) => {
    failures.refused({ user, address, reason: why ?? result.reason });
    return result;
  };
  const jwt = config.jwt;
  const loginWithToken = tokenLogin(jwt, throttle, refused);

  /** Runs after a cache miss only, so cached credentials are never throttled nor queued. */
  const derive = (address: string | undefined) => async (job: PasswordHashJob, signal: AbortSignal) => {
    const done = await throttle.admit(address, signal);
    try {
      return await pool.hash(job, { signal, rank: () => throttle.failures(address) });
    } finally {
      done();
    }
  };

  return {
    tokens: jwt !== undefined,
    loginWithToken,
    async login(user, password, remoteAddress, signal) {
      // RabbitMQ's OAuth 2.0 backend: the password is the token, the user name is not looked at.
      if (jwt !== undefined && looksLikeJwt(password)) return loginWithToken(password, remoteAddress, signal);
      // Checked first: a remote guess at a loopback-only user costs no hash and learns nothing.
      if (loopbackOnly.has(user) && !isLoopback(remoteAddress))
        return refused(user, remoteAddress, refusedLoopbackOnly);
      let ok: boolean;
      try {
        const options = { derive: derive(remoteAddress), ...(signal === undefined ? {} : { signal }) };
        ok = await verify(user, password, options);
      } catch (err) {
        if (isBrokerError(err, ErrorCode.resourceExhausted) || signal?.aborted === true)
          return refused(user, remoteAddress, refusedBusy);
        throw err;
      }
      if (!ok) {
        throttle.failed(remoteAddress);
        return refused(user, remoteAddress, refusedCredentials);
      }
      return { ok: true, user, tags: tagsOf(user) ?? [] };
    },
    loginWithCertificate: certificateLogin({ loopbackOnly, tagsOf, throttle, refused }),
    anonymous(remoteAddress) {
      const user = anonymousUser === '' ? loopbackAnonymousUser : anonymousUser;
      if (anonymousUser === '' && !isLoopback(remoteAddress))
        return refused('', remoteAddress, refusedAnonymous);
      if (loopbackOnly.has(user) && !isLoopback(remoteAddress))
        return refused(user, remoteAddress, refusedLoopbackOnly);
      const tags = tagsOf(user);
      return tags === undefined ? refused(user, remoteAddress, refusedAnonymous) : { ok: true, user, tags };
    },
    scram(mechanism, remoteAddress, signal) {
      const exchange = new ScramServerExchange(mechanism, (user) => scramOf(user, mechanism));
      const refusedStep = (reason: SaslRefusal, detail: string): SaslStep => {
        failures.refused({ user: exchange.user, address: remoteAddress, reason });
        return { kind: 'refused', reason, detail };
      };
      const first = (text: string): SaslStep => {
        const result = exchange.first(text);
        if (!result.ok) return refusedStep('malformed', result.detail);
        // As for a password: a remote guess at a loopback-only user is refused before anything else.
        if (loopbackOnly.has(result.user) && !isLoopback(remoteAddress))
          return refusedStep('loopback_only', 'user may log in from loopback addresses only');
        return { kind: 'challenge', message: Buffer.from(result.serverFirst) };
      };
      const final = async (text: string): Promise<SaslStep> => {
        let done: () => void;
        try {
          done = await throttle.admit(remoteAddress, signal);
        } catch {
          return refusedStep('busy', 'too many logins from this address');
        }
        try {
          const result = exchange.final(text);
          if (!result.ok) {
            if (result.failure === 'credentials') throttle.failed(remoteAddress);
            return refusedStep(result.failure, result.detail);
          }
          const tags = tagsOf(exchange.user);
          if (tags === undefined) return refusedStep('credentials', 'user deleted during the exchange');
          return { kind: 'done', message: Buffer.from(result.serverFinal), user: exchange.user, tags };
        } finally {
          done();
        }
      };
      let steps = 0;
      const scram: SaslExchange = {
        async step(message) {
          const text = Buffer.from(message).toString('utf8');
          steps += 1;
          if (steps === 1) return first(text);
          if (steps === 2) return final(text);
          return refusedStep('malformed', 'SCRAM exchange already complete');
        },
      };
      return scram;
    },
    stats() {
      const { threads, hashes, running, queued } = pool.stats();
      const throttledAddresses = throttle.stats().addresses;
      return { hashThreads: threads, hashes, hashing: running, queued, throttledAddresses };
    },
    // A pool given in the config is its giver's to close (the server closes it after the gate).
    close: () => (config.hashing === undefined ? pool.close() : Promise.resolve()),
  };
}

function throttleOf(settings: LoginSettings): LoginThrottle {
  return new LoginThrottle({
    failuresFree: settings.loginFailuresBeforeDelay,
    delayMs: settings.loginFailureDelayMs,
    delayMsMax: settings.loginFailureDelayMsMax,
    windowMs: settings.loginFailureWindowMs,
    addressesMax: settings.loginFailureAddressesMax,
    pendingPerAddressMax: settings.loginPendingPerAddressMax,
  });
}

/** Users whose logins' tags are shared; past it, the table starts again. */
const sharedTagsUsersMax = 10_000;

/**
 * One frozen tags array per user while its tags stay the same, shared by every login of it: a fleet of
 * one user's connections keeps one array instead of one per principal.
 */
class SharedTags {
  readonly #byUser = new Map<string, readonly string[]>();

  of(user: string, tags: readonly string[] | undefined): readonly string[] | undefined {
    if (tags === undefined) return undefined;
    const known = this.#byUser.get(user);
    if (known !== undefined && known.length === tags.length && known.every((tag, i) => tag === tags[i]))
      return known;
    if (this.#byUser.size >= sharedTagsUsersMax) this.#byUser.clear();
    const frozen = Object.freeze([...tags]);
    this.#byUser.set(user, frozen);
    return frozen;
  }
}

/** The users logins are checked against: core's store, or (without a core: tests of this module alone) the default user. */
function usersOf(config: AuthenticatorConfig, core: CoreBroker | undefined) {
  const client = core?.connect(internalContext('/', 'auth'));
  const verify: UserVerifier =
    client === undefined
      ? async (user, password) => user === config.defaultUser && sameSecret(password, config.defaultPass)
      : (user, password, options) => client.verifyUser(user, password, options);
  const tags = new SharedTags();
  const tagsOf = (user: string): readonly string[] | undefined =>
    client === undefined
      ? user === config.defaultUser
        ? ['administrator']
        : undefined
      : tags.of(user, client.userTags(user));
  const scramOf = (user: string, mechanism: ScramMechanism): ScramCredential | undefined =>
    client?.scramCredentials(user)?.[mechanism];
  return { verify, tagsOf, scramOf };
}

type Refuse = (user: string, address: string | undefined, result: LoginRefused, why?: string) => LoginRefused;

/**
 * What a client is told of its refused token. The holder of a token may learn what is wrong with it:
 * nothing here is secret, and a client told its token expired knows to fetch another.
 */
const tokenRefusalText: Readonly<Record<TokenRefusal, string>> = {
  too_large: 'the token is larger than the broker accepts',
  malformed: 'the token is not a signed JWT',
  algorithm: "the token's algorithm is not accepted",
  unknown_key: "the token's key is not known to the broker",
  key_mismatch: "the token's algorithm does not fit its key",
  signature: "the token's signature does not verify",
  expired: 'the token has expired',
  not_yet_valid: 'the token is not valid yet',
  issuer: "the token's issuer is not accepted",
  audience: 'the token is not meant for this broker (audience)',
  no_user: 'the token names no user',
  scopes: "the token's scopes cannot be read",
};

/**
 * Bearer tokens: the address waits for its turn in the throttle like any login, the token is verified
 * at once (no hash), and a refusal counts as a failure of the address.
 */
function tokenLogin(jwt: JwtValidator | undefined, throttle: LoginThrottle, refused: Refuse) {
  return async (token: string, address: string | undefined, signal?: AbortSignal): Promise<LoginResult> => {
    if (jwt === undefined) return refused('', address, refusedCredentials, 'token: JWT logins are off');
    let done: () => void;
    try {
      done = await throttle.admit(address, signal);
    } catch {
      return refused('', address, refusedBusy);
    }
    try {
      const checked = jwt.check(token);
      if (!checked.ok) {
        throttle.failed(address);
        const result = { ...refusedCredentials, detail: tokenRefusalText[checked.reason] };
        return refused(checked.user ?? '', address, result, `token: ${checked.reason}`);
      }
      const { user, scopes, claims, expiresAtMs } = checked.token;
      const grant = new ScopePermissions(parseScopes(scopes, claims));
      return { ok: true, user, tags: grant.tags, grant, expiresAtMs };
    } finally {
      done();
    }
  };
}

interface CertificateLoginDeps {
  readonly loopbackOnly: ReadonlySet<string>;
  readonly tagsOf: (user: string) => readonly string[] | undefined;
  readonly throttle: LoginThrottle;
  readonly refused: Refuse;
}

/** A user a verified client certificate names: it must exist (and keep to loopback if it must). */
function certificateLogin({ loopbackOnly, tagsOf, throttle, refused }: CertificateLoginDeps) {
  return (user: string | undefined, address: string | undefined): LoginResult => {
    if (user === undefined || user === '')
      return refused('', address, refusedCredentials, 'certificate: names no user');
    if (loopbackOnly.has(user) && !isLoopback(address)) return refused(user, address, refusedLoopbackOnly);
    const tags = tagsOf(user);
    if (tags === undefined) {
      throttle.failed(address);
      return refused(user, address, refusedCredentials, 'certificate: no such user');
    }
    return { ok: true, user, tags };
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
