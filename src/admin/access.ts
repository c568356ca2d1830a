/**
 * Who is calling the admin API: HTTP Basic credentials checked by the broker's login gate (the same
 * users, throttle and loopback rule as every protocol), then RabbitMQ's rule that the API is for users
 * tagged `management` (or a tag that includes it: `policymaker`, `monitoring`, `administrator`).
 * What a user may then read or change is decided by core's authorizer on each command.
 */
import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Principal } from '../core/entry/context.js';

/** The broker's login gate as the admin API uses it (src/server/auth.ts; structurally the protocols' one). */
export interface AdminLogin {
  login(
    user: string,
    password: string,
    remoteAddress: string | undefined,
  ): Promise<
    | { readonly ok: true; readonly user: string; readonly tags: readonly string[] }
    | { readonly ok: false; readonly reason: string }
  >;
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
  | { readonly ok: false; readonly status: 401 | 403; readonly reason: string };

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

/** Logs the caller in; `tagged`: the tags one of which the route needs (management by default). */
export async function authenticate(
  req: IncomingMessage,
  auth: AdminLogin,
  tagged: ReadonlySet<string> = managementTags,
): Promise<Access> {
  const credentials = basicCredentials(req);
  if (credentials === undefined) return { ok: false, status: 401, reason: 'Login required (HTTP Basic)' };
  const result = await auth.login(credentials.user, credentials.password, req.socket.remoteAddress);
  if (!result.ok) {
    const reason = result.reason === 'busy' ? 'Too many login attempts; try again later' : 'Login failed';
    return { ok: false, status: 401, reason };
  }
  const principal: Principal = { user: result.user, tags: result.tags };
  if (!hasTag(principal, tagged)) {
    return {
      ok: false,
      status: 403,
      reason: `User '${result.user}' has none of the tags ${[...tagged].join(', ')}`,
    };
  }
  return { ok: true, principal };
}
