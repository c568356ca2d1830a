/**
 * The server side of one SCRAM exchange (RFC 5802, RFC 7677), protocol-neutral: Kafka's SASL carries
 * its messages today, MQTT v5 enhanced authentication can carry the same ones. Four messages:
 *
 *   client-first  `n,,n=<user>,r=<client nonce>`          → server-first  `r=<nonce>,s=<salt>,i=<iterations>`
 *   client-final  `c=biws,r=<nonce>,p=<proof>`            → server-final  `v=<server signature>`
 *
 * Channel binding is not offered: the gs2 flag must be `n` (or `y`, a client that could bind but
 * thinks the server cannot), and `c=` must repeat the gs2 header exactly. The proof is checked in
 * constant time. A user without a credential for the mechanism (unknown, or a password set before
 * SCRAM keys were kept) is answered with a made-up salt that stays the same for that name, and fails
 * only at the proof, so the exchange does not tell which users exist.
 *
 * The login gate (./auth.ts) wraps this with the throttle, the failed-login log and the user's tags.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  digest,
  digestOf,
  hmac,
  type ScramCredential,
  type ScramMechanism,
  scramIterationsDefault,
} from '../core/scram.js';

/** Longest client message read; a user name and a nonce fit many times over. */
export const scramMessageBytesMax = 8192;
const serverNonceBytes = 24;

/** Why an exchange failed: the client's messages, or its proof. */
export type ScramFailure = 'malformed' | 'credentials';

export type ScramResult<T> =
  | ({ readonly ok: true } & T)
  | { readonly ok: false; readonly failure: ScramFailure; readonly detail: string };

/** Salts made up for names without a credential: keyed per process, the same for a name every time. */
const fakeSaltKey = randomBytes(32);

function fakeCredential(mechanism: ScramMechanism, user: string): ScramCredential {
  const salt = createHmac('sha256', fakeSaltKey).update(`${mechanism}\u0000${user}`).digest().subarray(0, 24);
  const { bytes } = digestOf(mechanism);
  // Keys no proof can match: a client proof decides nothing about them (the check fails regardless).
  return {
    salt,
    iterations: scramIterationsDefault,
    storedKey: Buffer.alloc(bytes),
    serverKey: Buffer.alloc(bytes),
  };
}

/** `=2C` and `=3D` stand for `,` and `=` in a SCRAM name; any other `=` is malformed. */
export function decodeSaslName(text: string): string | undefined {
  if (/=(?!2C|3D)/.test(text)) return undefined;
  return text.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

/** Splits `k=v,k=v` attributes, in order; undefined when one is not of that form. */
function attributes(text: string): Array<[string, string]> | undefined {
  const out: Array<[string, string]> = [];
  for (const part of text.split(',')) {
    if (part.length < 2 || part[1] !== '=' || !/[a-zA-Z]/.test(part[0]!)) return undefined;
    out.push([part[0]!, part.slice(2)]);
  }
  return out;
}

const printableNonce = /^[\x21-\x2b\x2d-\x7e]+$/;

export class ScramServerExchange {
  readonly mechanism: ScramMechanism;
  readonly #lookup: (user: string) => ScramCredential | undefined;
  readonly #serverNonce: string;
  #state: 'first' | 'final' | 'done' = 'first';
  #user = '';
  #gs2Header = '';
  #nonce = '';
  #credential: ScramCredential | undefined;
  #known = false;
  #firstBare = '';
  #serverFirst = '';

  /** `serverNonce` is for tests (RFC 7677's example); a fresh random one otherwise. */
  constructor(
    mechanism: ScramMechanism,
    lookup: (user: string) => ScramCredential | undefined,
    serverNonce = randomBytes(serverNonceBytes).toString('base64'),
  ) {
    this.mechanism = mechanism;
    this.#lookup = lookup;
    this.#serverNonce = serverNonce;
  }

  /** The user named in client-first ('' before it). */
  get user(): string {
    return this.#user;
  }

  /** client-first → server-first. */
  first(message: string): ScramResult<{ readonly serverFirst: string; readonly user: string }> {
    if (this.#state !== 'first') return malformed('client-first-message sent twice');
    this.#state = 'done';
    if (message.length > scramMessageBytesMax) return malformed('client-first-message too long');
    const gs2 = /^([ny]),(?:a=([^,]*))?,/.exec(message);
    if (gs2 === null)
      return malformed('Invalid SCRAM client first message: channel binding is not supported');
    const bare = message.slice(gs2[0].length);
    const attrs = attributes(bare);
    if (attrs === undefined || attrs[0]?.[0] !== 'n' || attrs[1]?.[0] !== 'r')
      return malformed('Invalid SCRAM client first message');
    const user = decodeSaslName(attrs[0][1]);
    const authzid = gs2[2] === undefined ? undefined : decodeSaslName(gs2[2]);
    const clientNonce = attrs[1][1];
    if (user === undefined || user === '' || !printableNonce.test(clientNonce))
      return malformed('Invalid SCRAM client first message');
    if (authzid !== undefined && authzid !== '' && authzid !== user)
      return malformed(
        'Authentication failed: Client requested an authorization id that is different from username',
      );
    const credential = this.#lookup(user);
    this.#known = credential !== undefined;
    this.#credential = credential ?? fakeCredential(this.mechanism, user);
    this.#user = user;
    this.#gs2Header = gs2[0];
    this.#firstBare = bare;
    this.#nonce = clientNonce + this.#serverNonce;
    const salt = Buffer.from(this.#credential.salt).toString('base64');
    this.#serverFirst = `r=${this.#nonce},s=${salt},i=${this.#credential.iterations}`;
    this.#state = 'final';
    return { ok: true, serverFirst: this.#serverFirst, user };
  }

  /** client-final → server-final, once the proof is right. */
  final(message: string): ScramResult<{ readonly serverFinal: string }> {
    if (this.#state !== 'final') return malformed('client-final-message out of order');
    this.#state = 'done';
    if (message.length > scramMessageBytesMax) return malformed('client-final-message too long');
    const attrs = attributes(message);
    const proofAt = message.lastIndexOf(',p=');
    if (attrs === undefined || attrs[0]?.[0] !== 'c' || attrs[1]?.[0] !== 'r' || attrs.at(-1)?.[0] !== 'p')
      return malformed('Invalid SCRAM client final message');
    if (Buffer.from(attrs[0][1], 'base64').toString('latin1') !== this.#gs2Header)
      return malformed('Invalid SCRAM client final message: channel binding data does not match');
    // Kafka accepts a nonce that ends with the combined one, and librdkafka (before 2.2) sends its own
    // nonce in front of it again; RFC 5802 wants them equal. The proof covers what was sent either way.
    if (!attrs[1][1].endsWith(this.#nonce))
      return malformed('Invalid client nonce in the final client message.');
    const credential = this.#credential!;
    const authMessage = `${this.#firstBare},${this.#serverFirst},${message.slice(0, proofAt)}`;
    const proof = Buffer.from(attrs.at(-1)![1], 'base64');
    const signature = hmac(this.mechanism, credential.storedKey, authMessage);
    if (proof.length !== signature.length) return refusedProof();
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ signature[i]!;
    const matches = timingSafeEqual(digest(this.mechanism, clientKey), credential.storedKey);
    if (!matches || !this.#known) return refusedProof();
    const serverSignature = hmac(this.mechanism, credential.serverKey, authMessage).toString('base64');
    return { ok: true, serverFinal: `v=${serverSignature}` };
  }
}

function malformed(detail: string): { ok: false; failure: ScramFailure; detail: string } {
  return { ok: false, failure: 'malformed', detail };
}

function refusedProof(): { ok: false; failure: ScramFailure; detail: string } {
  return { ok: false, failure: 'credentials', detail: 'Invalid client credentials' };
}
