/**
 * The dashboard's login: `POST /api/login` `{username, password}` checks the credentials through the
 * broker's login gate (so a refusal is a failed login like any protocol's, throttled and logged) and
 * opens a session (./sessions.ts); `POST /api/logout` ends it; `GET /api/session` tells the page who is
 * logged in and hands back the CSRF token after a reload. A request with the session cookie is then
 * let in as that user, its current tags deciding what it may do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoreBroker } from '../core/api.js';
import { internalContext, type Principal } from '../core/entry/context.js';
import { type Access, type AdminLogin, hasTag } from './access.js';
import { HttpError } from './errors.js';
import type { Json } from './json.js';
import {
  cookieOf,
  hasCsrfToken,
  type Session,
  type Sessions,
  sessionCookie,
  sessionCookieName,
} from './sessions.js';

export interface LoginContext {
  readonly core: CoreBroker;
  readonly auth: AdminLogin;
  readonly sessions: Sessions;
  /** The listener is HTTPS: the cookie is marked `Secure`. */
  readonly secure: boolean;
}

/** A login body is two short strings. */
export const loginBodyBytesMax = 4 * 1024;

type Reply = { status: number; body: Json | undefined };

function credentialsOf(body: Json | undefined): { user: string; password: string } {
  const object = body !== null && typeof body === 'object' && !Array.isArray(body) ? body : {};
  const { username, password } = object as { [key: string]: Json };
  if (typeof username !== 'string' || typeof password !== 'string')
    throw new HttpError(400, 'bad_request', 'The body must be {username, password}, both strings');
  return { user: username, password };
}

/** The user's stored hash, '' for a user the gate knows but the definitions do not. */
function passwordHashOf(context: LoginContext, user: string): string | undefined {
  return context.core.connect(internalContext('/', 'http-session')).getUser(user)?.passwordHash;
}

/** The session the request's cookie names, if it is still live and its user unchanged. */
function liveSession(req: IncomingMessage, context: LoginContext): Session | undefined {
  const id = cookieOf(req, sessionCookieName);
  const session = id === undefined ? undefined : context.sessions.find(id);
  if (session === undefined) return undefined;
  if (passwordHashOf(context, session.user) === session.passwordHash) return session;
  // The user was deleted or its password changed since the login: the session ends with it.
  context.sessions.close(session.id);
  return undefined;
}

/** Whether the request carries a session cookie at all (then it is answered as a session request). */
export function hasSessionCookie(req: IncomingMessage): boolean {
  return cookieOf(req, sessionCookieName) !== undefined;
}

/**
 * A request with the session cookie: 401 when the session is gone, 403 when the user has lost the tags
 * of the route, or for a write without the session's CSRF token.
 */
export function sessionAccess(
  req: IncomingMessage,
  context: LoginContext,
  tagged: ReadonlySet<string>,
): Access {
  const session = liveSession(req, context);
  if (session === undefined) return { ok: false, status: 401, reason: 'Session expired; log in again' };
  const tags = context.core.connect(internalContext('/', 'http-session')).userTags(session.user) ?? [];
  const principal: Principal = { user: session.user, tags };
  if (!hasTag(principal, tagged))
    return {
      ok: false,
      status: 403,
      reason: `User '${session.user}' has none of the tags ${[...tagged].join(', ')}`,
    };
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (!read && !hasCsrfToken(req, session))
    return { ok: false, status: 403, reason: 'A write with the session cookie needs its CSRF token' };
  return { ok: true, principal };
}

/** `POST /api/login`: 200 `{name, tags, csrf_token}` with the cookie, 401 or 403 otherwise. */
export async function login(
  req: IncomingMessage,
  res: ServerResponse,
  context: LoginContext,
  body: Json | undefined,
  tagged: ReadonlySet<string>,
): Promise<Reply> {
  const { user, password } = credentialsOf(body);
  const result = await context.auth.login(user, password, req.socket.remoteAddress);
  if (!result.ok) {
    const reason = result.reason === 'busy' ? 'Too many login attempts; try again later' : 'Login failed';
    return { status: 401, body: { error: 'not_authorized', reason } };
  }
  if (!hasTag({ user: result.user, tags: result.tags }, tagged))
    return {
      status: 403,
      body: { error: 'not_authorized', reason: `User '${result.user}' may not use the dashboard` },
    };
  const hash = passwordHashOf(context, result.user);
  if (hash === undefined)
    return {
      status: 403,
      body: { error: 'not_authorized', reason: 'Only users of the broker open sessions' },
    };
  const session = context.sessions.open(result.user, hash);
  res.setHeader('set-cookie', sessionCookie(session, context.secure, context.core.clock.now()));
  return { status: 200, body: { name: result.user, tags: [...result.tags], csrf_token: session.csrf } };
}

/** `POST /api/logout`: ends the cookie's session (if any) and clears the cookie (204). */
export function logout(req: IncomingMessage, res: ServerResponse, context: LoginContext): Reply {
  const id = cookieOf(req, sessionCookieName);
  const session = id === undefined ? undefined : context.sessions.find(id);
  // Logging out needs the CSRF token too: another site must not end a user's session.
  if (session !== undefined && !hasCsrfToken(req, session))
    return { status: 403, body: { error: 'not_authorized', reason: 'Logging out needs the CSRF token' } };
  if (session !== undefined) context.sessions.close(session.id);
  res.setHeader('set-cookie', sessionCookie(undefined, context.secure, 0));
  return { status: 204, body: undefined };
}

/** `GET /api/session`: the logged-in user and the CSRF token, for a page reloaded with its cookie. */
export function describeSession(req: IncomingMessage, context: LoginContext): Reply {
  const session = liveSession(req, context);
  if (session === undefined)
    return { status: 401, body: { error: 'not_authorized', reason: 'Not logged in' } };
  const tags = context.core.connect(internalContext('/', 'http-session')).userTags(session.user) ?? [];
  return { status: 200, body: { name: session.user, tags, csrf_token: session.csrf } };
}
