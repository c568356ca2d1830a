/**
 * SASL/OAUTHBEARER on the Kafka ports (KIP-255, RFC 7628): the client's first message carries a bearer
 * token, which the login gate's one JWT validator checks (`loginWithToken`, src/server/jwt.ts). The
 * principal is the token's user with the token's scopes as its permissions, as for AMQP and MQTT token
 * logins, and the session ends no later than the token does (KIP-368, ./sasl.ts).
 *
 * The client first message (RFC 7628 §3.1) is `gs2-header %x01 *(key "=" value %x01) %x01`, where
 * `gs2-header` is `n,` or `y,` (no channel binding, RFC 5801), an optional `a=<authzid>` and `,`; one
 * of the pairs is `auth=Bearer <token>`. Other pairs are SASL extensions (KIP-342); none is known here,
 * so they are read and left aside. An authzid, when given, must be the token's user.
 *
 * A token that does not verify is answered with RFC 7628 §3.2.2's error, `{"status":"invalid_token"}`:
 * after a v0 handshake (bare tokens, no error code) it is the server's challenge, the client answers
 * with a lone %x01 and the connection closes; in a SaslAuthenticate exchange it travels as the failed
 * answer's `auth_bytes` beside SASL_AUTHENTICATION_FAILED and a message saying what is wrong with the
 * token, so clients that read the error code (kafkajs does not read the bytes) are told at once.
 */
import type { Authenticator } from '../listener.js';
import { principalOf } from '../listener.js';
import type { MechanismStep, SaslMechanism } from './sasl-mechanism.js';

export const oauthBearerName = 'OAUTHBEARER';

const kvsep = '\u0001';

export interface OauthBearerFirst {
  /** The authorization id of the GS2 header; '' when absent. */
  readonly authzid: string;
  readonly token: string;
  /** KIP-342's extensions: the other key/value pairs, in order. */
  readonly extensions: ReadonlyMap<string, string>;
}

/** RFC 7628 §3.1: `key = 1*(ALPHA)`, `value = *(VCHAR / SP / HTAB / CR / LF)`. */
const keyShape = /^[A-Za-z]+$/;
const valueShape = /^[\x21-\x7e \t\r\n]*$/;
/** RFC 6750 §2.1's b64token after `Bearer` and one or more spaces; the scheme is case-insensitive. */
const bearerShape = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** RFC 5801's saslname: `=2C` is `,`, `=3D` is `=`; any other `=` or a `,` makes it malformed. */
function saslName(text: string): string | undefined {
  if (/,|=(?!2C|3D)/.test(text)) return undefined;
  return text.replace(/=2C|=3D/g, (escaped) => (escaped === '=2C' ? ',' : '='));
}

/** The client first message, or why it does not follow RFC 7628 §3.1. */
export function parseOauthBearerFirst(message: string): OauthBearerFirst | { readonly malformed: string } {
  const headerEnd = message.indexOf(kvsep);
  if (headerEnd < 0) return { malformed: 'no GS2 header' };
  const header = message.slice(0, headerEnd);
  const headerMatch = /^[ny],(?:a=([^,]*))?,$/.exec(header);
  if (headerMatch === null) return { malformed: 'the GS2 header is not n,[a=authzid], (no channel binding)' };
  const authzid = headerMatch[1] === undefined ? '' : saslName(headerMatch[1]);
  if (authzid === undefined) return { malformed: 'the authorization id is not a saslname' };
  const rest = message.slice(headerEnd + 1);
  if (!rest.endsWith(kvsep + kvsep) && rest !== kvsep)
    return { malformed: 'the message does not end in two %x01' };
  const pairs = rest === kvsep ? [] : rest.slice(0, -2).split(kvsep);
  const extensions = new Map<string, string>();
  let token: string | undefined;
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (eq < 0 || !keyShape.test(key) || !valueShape.test(value))
      return { malformed: 'a key/value pair is malformed' };
    if (key === 'auth') {
      const bearer = bearerShape.exec(value);
      if (bearer === null || token !== undefined) return { malformed: 'auth is not one `Bearer <token>`' };
      token = bearer[1]!;
    } else if (!extensions.has(key)) extensions.set(key, value);
    else return { malformed: `extension ${key} is given twice` };
  }
  if (token === undefined) return { malformed: 'no auth=Bearer <token>' };
  return { authzid, token, extensions };
}

/** RFC 7628 §3.2.2's error for a token the server does not accept (RFC 6750 §3.1's `invalid_token`). */
export const invalidTokenError = new TextEncoder().encode('{"status":"invalid_token"}');

/** OAUTHBEARER as one entry of the Kafka mechanism table (offered when JWT logins are configured). */
export function oauthBearerMechanism(auth: Authenticator): SaslMechanism {
  return {
    name: oauthBearerName,
    start: (peer) => ({
      async step(bytes): Promise<MechanismStep> {
        const first = parseOauthBearerFirst(Buffer.from(bytes).toString('utf8'));
        if ('malformed' in first)
          return {
            kind: 'failed',
            message: `Authentication failed: invalid OAUTHBEARER client first message (${first.malformed})`,
          };
        const result = await auth.loginWithToken(first.token, peer.remoteAddress, peer.signal);
        if (!result.ok) {
          if (result.reason === 'busy')
            return {
              kind: 'failed',
              message: 'Authentication failed: too many login attempts; try again later',
            };
          const why = result.detail ?? 'the token is not accepted';
          return { kind: 'failed', message: `Authentication failed: ${why}`, error: invalidTokenError };
        }
        if (first.authzid !== '' && first.authzid !== result.user) {
          return {
            kind: 'failed',
            message: `Authentication failed: the authorization id '${first.authzid}' is not the token's user '${result.user}'`,
          };
        }
        const login = {
          principal: principalOf(result),
          ...(result.expiresAtMs === undefined ? {} : { expiresAtMs: result.expiresAtMs }),
        };
        return { kind: 'done', token: new Uint8Array(0), login };
      },
    }),
  };
}
