/**
 * Kafka's SASL authentication on a SASL_PLAINTEXT or SASL_SSL port: the state of one connection and
 * the mechanism table.
 *
 * A client sends ApiVersions (optional) and SaslHandshake naming a mechanism. After a v1 handshake
 * the mechanism's messages travel in SaslAuthenticate requests (v1+ answer `session_lifetime_ms`);
 * after a v0 handshake they travel as bare size-prefixed tokens with no Kafka header, answered the
 * same way (a success with an empty token), and a failure just closes the connection, as Kafka does.
 * Before authentication any other request closes the connection; so does a failed authentication,
 * once its answer is sent.
 *
 * Re-authentication (KIP-368): with a session lifetime set, a SaslHandshake on an authenticated
 * connection starts a new exchange with the same mechanism, at most once a second, and the user must
 * stay the same. A connection whose session has ended is closed at its next request unless that
 * request starts a re-authentication.
 */
import { isScramMechanism, scramMechanisms } from '../../core/scram.js';
import type { Clock } from '../../shared/clock.js';
import type { Authenticator } from '../listener.js';
import {
  ApiKey,
  type KafkaInput,
  kafkaApiByKey,
  type SaslAuthenticateResponse,
  type SaslHandshakeResponse,
} from './codec/index.js';
import { KafkaError } from './errors.js';
import { oauthBearerMechanism } from './oauthbearer.js';
import type {
  MechanismExchange,
  MechanismStep,
  SaslLogin,
  SaslMechanism,
  SaslPeer,
} from './sasl-mechanism.js';

const nul = 0;

/** PLAIN (RFC 4616): `authzid NUL user NUL password`, checked by the login gate. */
export function plainMechanism(auth: Authenticator): SaslMechanism {
  return {
    name: 'PLAIN',
    start: (peer) => ({
      async step(token): Promise<MechanismStep> {
        const parts: Uint8Array[] = [];
        let from = 0;
        for (let i = 0; i <= token.length; i++) {
          if (i === token.length || token[i] === nul) {
            parts.push(token.subarray(from, i));
            from = i + 1;
          }
        }
        if (parts.length !== 3) return { kind: 'failed' };
        const [authzid, user, password] = parts.map((p) => Buffer.from(p).toString('utf8')) as [
          string,
          string,
          string,
        ];
        if (user === '') return { kind: 'failed', message: 'Authentication failed: username not specified' };
        if (password === '')
          return { kind: 'failed', message: 'Authentication failed: password not specified' };
        const result = await auth.login(user, password, peer.remoteAddress, peer.signal);
        if (!result.ok) {
          const busy = result.reason === 'busy';
          const why = busy ? 'too many login attempts; try again later' : 'Invalid username or password';
          return { kind: 'failed', message: `Authentication failed: ${why}` };
        }
        if (authzid !== '' && authzid !== user) {
          return {
            kind: 'failed',
            message:
              'Authentication failed: Client requested an authorization id that is different from username',
          };
        }
        return {
          kind: 'done',
          token: new Uint8Array(0),
          login: { principal: { user: result.user, tags: result.tags } },
        };
      },
    }),
  };
}

/** SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) through the login gate's SCRAM exchange. */
export function scramMechanism(auth: Authenticator, name: string): SaslMechanism {
  if (!isScramMechanism(name)) throw new Error(`not a SCRAM mechanism: ${name}`);
  return {
    name,
    start: (peer) => {
      const exchange = auth.scram(name, peer.remoteAddress, peer.signal);
      return {
        async step(token): Promise<MechanismStep> {
          const step = await exchange.step(token);
          if (step.kind === 'challenge') return { kind: 'challenge', token: step.message };
          if (step.kind === 'refused') return { kind: 'failed' };
          return {
            kind: 'done',
            token: step.message,
            login: { principal: { user: step.user, tags: step.tags } },
          };
        },
      };
    },
  };
}

/**
 * The mechanisms the Kafka ports offer, in the order SaslHandshake lists them; OAUTHBEARER only when
 * JWT logins are configured (`jwtKeys` or `jwtJwksFile`).
 */
export function saslMechanisms(auth: Authenticator): ReadonlyMap<string, SaslMechanism> {
  const table = [plainMechanism(auth), ...scramMechanisms.map((name) => scramMechanism(auth, name))];
  if (auth.tokens) table.push(oauthBearerMechanism(auth));
  return new Map(table.map((m) => [m.name, m]));
}

/** Kafka's own name of an API in its messages (`METADATA`, `SASL_AUTHENTICATE`). */
export function apiKeyName(apiKey: number): string {
  const name = kafkaApiByKey.get(apiKey)?.name;
  return name === undefined ? String(apiKey) : name.replace(/(?<=[a-z])(?=[A-Z])/g, '_').toUpperCase();
}

/** KIP-368: a client may not start re-authenticating more often than this. */
export const reauthIntervalMsMin = 1000;

/** What the connection does about a request before it reads it. */
export type Admission = { readonly kind: 'serve' } | { readonly kind: 'close'; readonly why: string };

type State = 'handshake' | 'authenticate' | 'tokens' | 'authenticated';

/** What accepting a login needs from the connection: the client for it, or why it may not in. */
export type LoginAcceptor = (login: SaslLogin) => string | undefined;

export interface SaslSessionOptions {
  readonly mechanisms: ReadonlyMap<string, SaslMechanism>;
  /** 0: a login lasts as long as the connection. */
  readonly sessionLifetimeMs: number;
  readonly clock: Clock;
  readonly peer: SaslPeer;
  /** Called at each successful exchange; a message refuses the login with it. */
  readonly accept: LoginAcceptor;
}

const serve: Admission = { kind: 'serve' };
const unlimited = Number.POSITIVE_INFINITY;

export class SaslSession {
  readonly #options: SaslSessionOptions;
  #state: State = 'handshake';
  #mechanism: SaslMechanism | undefined;
  #exchange: MechanismExchange | undefined;
  #login: SaslLogin | undefined;
  #sessionEndMs = unlimited;
  #reauthStartMs = Number.NEGATIVE_INFINITY;
  /** After a v0 handshake, the mechanism's error was sent as a challenge: the next token closes. */
  #refusedWithChallenge = false;
  /** The answer being sent is the last: the connection closes once it is written. */
  closeAfterReply = false;

  constructor(options: SaslSessionOptions) {
    this.#options = options;
  }

  get authenticated(): boolean {
    return this.#login !== undefined;
  }

  /** After a v0 handshake: the next frames are bare SASL tokens, not requests. */
  get expectsTokens(): boolean {
    return this.#state === 'tokens';
  }

  get #reauthenticating(): boolean {
    return this.#login !== undefined;
  }

  /** Whether a request of `apiKey` may be read now; otherwise the connection is closed, as Kafka does. */
  admit(apiKey: number): Admission {
    const now = this.#options.clock.now();
    switch (this.#state) {
      case 'handshake':
        if (apiKey === ApiKey.ApiVersions || apiKey === ApiKey.SaslHandshake) return serve;
        return {
          kind: 'close',
          why: `Unexpected Kafka request of type ${apiKeyName(apiKey)} during SASL handshake.`,
        };
      case 'authenticate':
        if (apiKey === ApiKey.SaslAuthenticate) return serve;
        return {
          kind: 'close',
          why: `Unexpected Kafka request of type ${apiKeyName(apiKey)} during SASL authentication.`,
        };
      case 'tokens':
        return { kind: 'close', why: 'a Kafka request where a SASL token was expected' };
      case 'authenticated':
        if (apiKey === ApiKey.SaslHandshake && this.#mayReauthenticate(now)) return serve;
        if (now >= this.#sessionEndMs) return { kind: 'close', why: 'SASL session expired' };
        return serve;
    }
  }

  #mayReauthenticate(now: number): boolean {
    return this.#sessionEndMs !== unlimited && now - this.#reauthStartMs >= reauthIntervalMsMin;
  }

  handshake(version: number, mechanismName: string): KafkaInput<SaslHandshakeResponse> {
    const mechanisms = [...this.#options.mechanisms.keys()];
    const now = this.#options.clock.now();
    const reauth = this.#state === 'authenticated';
    // A handshake on an authenticated connection that may not re-authenticate: Kafka's plain answer.
    if (reauth && (!this.#mayReauthenticate(now) || version < 1))
      return { errorCode: KafkaError.illegalSaslState, mechanisms: [] };
    const mechanism = this.#options.mechanisms.get(mechanismName);
    if (mechanism === undefined || (reauth && mechanism !== this.#mechanism)) {
      this.closeAfterReply = true;
      return { errorCode: KafkaError.unsupportedSaslMechanism, mechanisms };
    }
    if (reauth) this.#reauthStartMs = now;
    this.#mechanism = mechanism;
    this.#exchange = mechanism.start(this.#options.peer);
    this.#state = version === 0 ? 'tokens' : 'authenticate';
    return { errorCode: KafkaError.none, mechanisms };
  }

  async authenticate(token: Uint8Array): Promise<KafkaInput<SaslAuthenticateResponse>> {
    if (this.#state !== 'authenticate') {
      return {
        errorCode: KafkaError.illegalSaslState,
        errorMessage: 'SaslAuthenticate request received after successful authentication',
      };
    }
    const result = await this.#step(token);
    if (result.kind === 'failed') {
      this.closeAfterReply = true;
      return {
        errorCode: KafkaError.saslAuthenticationFailed,
        errorMessage: result.message,
        ...(result.error === undefined ? {} : { authBytes: result.error }),
      };
    }
    return {
      errorCode: KafkaError.none,
      errorMessage: null,
      authBytes: result.token,
      sessionLifetimeMs: BigInt(result.lifetimeMs),
    };
  }

  /** A bare token after a v0 handshake: the token to answer with, or undefined to close at once. */
  async token(token: Uint8Array): Promise<Uint8Array | undefined> {
    // RFC 7628 §3.2.2: whatever the client answers to the error (a lone %x01), the exchange has failed.
    if (this.#refusedWithChallenge) return undefined;
    const result = await this.#step(token);
    if (result.kind === 'ok') return result.token;
    this.#refusedWithChallenge = result.error !== undefined;
    return result.error;
  }

  async #step(
    token: Uint8Array,
  ): Promise<
    | { kind: 'failed'; message: string; error?: Uint8Array }
    | { kind: 'ok'; token: Uint8Array; lifetimeMs: number }
  > {
    const step = await this.#exchange!.step(token);
    const mechanism = this.#mechanism!.name;
    const during = this.#reauthenticating ? 're-authentication' : 'authentication';
    if (step.kind === 'failed') {
      this.#exchange = undefined;
      const hidden = `Authentication failed during ${during} due to invalid credentials with SASL mechanism ${mechanism}`;
      const message = step.message ?? hidden;
      return step.error === undefined
        ? { kind: 'failed', message }
        : { kind: 'failed', message, error: step.error };
    }
    if (step.kind === 'challenge') return { kind: 'ok', token: step.token, lifetimeMs: 0 };
    const before = this.#login?.principal.user;
    const user = step.login.principal.user;
    if (before !== undefined && before !== user) {
      return {
        kind: 'failed',
        message: `Cannot change principals during re-authentication from User:${before}: User:${user}`,
      };
    }
    const refusal = this.#options.accept(step.login);
    if (refusal !== undefined) return { kind: 'failed', message: `Authentication failed: ${refusal}` };
    this.#login = step.login;
    this.#state = 'authenticated';
    this.#exchange = undefined;
    return { kind: 'ok', token: step.token, lifetimeMs: this.#startSession(step.login) };
  }

  /** KIP-368: the session lasts the configured lifetime, or until the credential expires if sooner. */
  #startSession(login: SaslLogin): number {
    const now = this.#options.clock.now();
    const configured = this.#options.sessionLifetimeMs > 0 ? this.#options.sessionLifetimeMs : unlimited;
    const credential = login.expiresAtMs === undefined ? unlimited : Math.max(0, login.expiresAtMs - now);
    const lifetimeMs = Math.min(configured, credential);
    this.#sessionEndMs = now + lifetimeMs;
    return lifetimeMs === unlimited ? 0 : lifetimeMs;
  }
}
