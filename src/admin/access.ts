/**
 * Who is calling the admin API: HTTP Basic credentials or an `Authorization: Bearer <JWT>` token, both
 * checked by the broker's login gate (the same users, tokens, throttle and loopback rule as every
 * protocol), then RabbitMQ's rule that the API is for users tagged `management` (or a tag that
 * includes it: `policymaker`, `monitoring`, `administrator`); a token's tags are its `tag:` scopes.
 * What a caller may then read or change is decided by core's authorizer on each command (a token's
 * caller on its scopes).
 */
import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { CarriedPermissions, Principal } from '../core/entry/context.js';

type AdminLoginResult =
  | {
      readonly ok: true;
      readonly user: string;
      readonly tags: readonly string[];
      /** A token's scopes: the caller's permissions instead of the user store's. */
      readonly grant?: CarriedPermissions;
    }
  | { readonly ok: false; readonly reason: string };

/** The broker's login gate as the admin API uses it (src/server/auth.ts; structurally the protocols' one). */
export interface AdminLogin {
  login(user: string, password: string, remoteAddress: string | undefined): Promise<AdminLoginResult>;
  loginWithToken(token: string, remoteAddress: string | undefined): Promise<AdminLoginResult>;
}

/** Tags that open the admin API (RabbitMQ: each of these includes `management`). */
export const managementTags: ReadonlySet<string> = new Set([
  'management',
  'policymaker',
  'monitoring',
  'administrator',
]);
/** Tags that may read `/metrics` on a broker reachable from other hosts. */
export const monitoringTags: ReadonlySet<string> = new Set(['monitoring', 'administrator']);

/** Realm named in `WWW-Authenticate`, as RabbitMQ's management plugin names it. */
export const realm = 'Switchyard Management';

export type Access =
  | { readonly ok: true; readonly principal: Principal }
  /** 401: no credentials or wrong ones (the client should ask for them); 403: a user without the tag. */
  | { readonly ok: false; readonly status: 401 | 403; readonly reason: string; readonly bearer?: boolean };

/** `Authorization: Basic <base64 of user:password>`; undefined when absent or of another scheme. */
export function basicCredentials(req: IncomingMessage): { user: string; password: string } | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function hasTag(principal: Principal, tags: ReadonlySet<string>): boolean {
  return principal.tags.some((tag) => tags.has(tag));
}

export function isMonitoring(principal: Principal): boolean {
  return hasTag(principal, monitoringTags);
}

/** `Authorization: Bearer <token>` (RFC 6750 §2.1); undefined when absent or of another scheme. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const match = /^bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(header);
  return match === null ? undefined : match[1];
}

/** Logs the caller in; `tagged`: the tags one of which the route needs (management by default). */
export async function authenticate(
  req: IncomingMessage,
  auth: AdminLogin,
  tagged: ReadonlySet<string> = managementTags,
): Promise<Access> {
  const remote = req.socket.remoteAddress;
  const token = bearerToken(req);
  const credentials = token === undefined ? basicCredentials(req) : undefined;
  if (token === undefined && credentials === undefined)
    return { ok: false, status: 401, reason: 'Login required (HTTP Basic or Bearer)' };
  const result =
    token !== undefined
      ? await auth.loginWithToken(token, remote)
      : await auth.login(credentials!.user, credentials!.password, remote);
  if (!result.ok) {
    const reason = result.reason === 'busy' ? 'Too many login attempts; try again later' : 'Login failed';
    return { ok: false, status: 401, reason, ...(token === undefined ? {} : { bearer: true }) };
  }
  const principal: Principal = {
    user: result.user,
    tags: result.tags,
    ...(result.grant === undefined ? {} : { carried: result.grant }),
  };
  if (!hasTag(principal, tagged)) {
    return {
      ok: false,
      status: 403,
      reason: `User '${result.user}' has none of the tags ${[...tagged].join(', ')}`,
    };
  }
  return { ok: true, principal };
}
