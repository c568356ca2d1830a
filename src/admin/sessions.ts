/**
 * Dashboard sessions: a login through the broker's login gate (`POST /api/login`) opens a session
 * whose random id travels in an `HttpOnly; SameSite=Strict` cookie (`Secure` over HTTPS). The table is
 * held here, bounded in count, and each entry expires a fixed time after the login. A session stays
 * valid only while its user exists with the password hash it logged in with, so deleting the user or
 * changing its password ends every session of it. Writes with the cookie must also carry the session's
 * CSRF token in `x-switchyard-csrf` (SameSite alone does not cover older browsers or sibling sites).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../shared/clock.js';

export interface SessionLimits {
  /** A session ends this long after its login, used or not. */
  readonly sessionTtlMs: number;
  /** Sessions held at once; a login past it ends the oldest session. */
  readonly sessionsMax: number;
}

export const defaultSessionLimits: SessionLimits = { sessionTtlMs: 8 * 60 * 60 * 1000, sessionsMax: 1024 };

export interface Session {
  readonly id: string;
  readonly user: string;
  /** The user's stored password hash at login: a later change of password ends the session. */
  readonly passwordHash: string;
  /** Sent back by the page in `x-switchyard-csrf` on every write. */
  readonly csrf: string;
  readonly expiresAtMs: number;
}

export const sessionCookieName = 'switchyard_session';
/** The header that carries the CSRF token; its presence also marks a request from the dashboard. */
export const csrfHeader = 'x-switchyard-csrf';
const idBytes = 32;

export class Sessions {
  readonly #clock: Clock;
  readonly #limits: SessionLimits;
  /** Insertion order is login order: the first entry is the oldest. */
  readonly #byId = new Map<string, Session>();

  constructor(clock: Clock, limits: SessionLimits) {
    this.#clock = clock;
    this.#limits = limits;
  }

  get size(): number {
    return this.#byId.size;
  }

  open(user: string, passwordHash: string): Session {
    this.#sweep();
    while (this.#byId.size >= this.#limits.sessionsMax) {
      const oldest = this.#byId.keys().next();
      if (oldest.done === true) break;
      this.#byId.delete(oldest.value);
    }
    const session: Session = {
      id: randomBytes(idBytes).toString('base64url'),
      user,
      passwordHash,
      csrf: randomBytes(idBytes).toString('base64url'),
      expiresAtMs: this.#clock.now() + this.#limits.sessionTtlMs,
    };
    this.#byId.set(session.id, session);
    return session;
  }

  /** The live session of `id`; an expired one is dropped. */
  find(id: string): Session | undefined {
    const session = this.#byId.get(id);
    if (session === undefined) return undefined;
    if (this.#clock.now() < session.expiresAtMs) return session;
    this.#byId.delete(id);
    return undefined;
  }

  close(id: string): void {
    this.#byId.delete(id);
  }

  #sweep(): void {
    const now = this.#clock.now();
    for (const [id, session] of this.#byId) if (now >= session.expiresAtMs) this.#byId.delete(id);
  }
}

/** The value of cookie `name` in the request's `Cookie` header. */
export function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** `Set-Cookie` for a session, or (without one) the header that clears the cookie. */
export function sessionCookie(session: Session | undefined, secure: boolean, nowMs: number): string {
  const value = session?.id ?? '';
  const maxAgeS = session === undefined ? 0 : Math.max(0, Math.floor((session.expiresAtMs - nowMs) / 1000));
  const attributes = [`Path=/`, 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeS}`];
  if (secure) attributes.push('Secure');
  return [`${sessionCookieName}=${value}`, ...attributes].join('; ');
}

/** The request carries the session's CSRF token (compared in constant time). */
export function hasCsrfToken(req: IncomingMessage, session: Session): boolean {
  const sent = req.headers[csrfHeader];
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
