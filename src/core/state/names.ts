/**
 * Names of state logs. Storage takes [A-Za-z0-9._-] and at most 200 characters, while vhost, group
 * and session names are any UTF-8, so each part is escaped (../log-names.ts) and a name too long
 * becomes `<prefix>-h.<sha256>`. Either form starts with the object kind's prefix, which is how a
 * listing tells the kinds apart; which object a log belongs to is its identity record (./state-log.ts).
 */
import { createHash } from 'node:crypto';
import { escapeLogNamePart, logNameCharsMax } from '../log-names.js';

/** The broker's one definitions log. */
export const definitionsLogName = 'defs';

/** Prefixes of the logs of objects found by listing: per vhost, or per vhost and name. */
export const statePrefixes = ['group', 'session', 'retained', 'producers', 'transactions'] as const;
export type StatePrefix = (typeof statePrefixes)[number];

/**
 * `<prefix>.<vhost>` or `<prefix>.<vhost>.<name>`, parts escaped; `<prefix>-h.<sha256>` when longer
 * than storage allows. Escaped parts hold no '.', so distinct objects never share a name.
 */
export function stateLogName(prefix: StatePrefix, vhost: string, name?: string): string {
  const parts = [prefix, escapeLogNamePart(vhost)];
  if (name !== undefined) parts.push(escapeLogNamePart(name));
  const readable = parts.join('.');
  if (readable.length <= logNameCharsMax) return readable;
  const hash = createHash('sha256').update(vhost);
  if (name !== undefined) hash.update('\0').update(name);
  return `${prefix}-h.${hash.digest('hex')}`;
}

/** Kinds with one object per vhost: their logs are named by the vhost alone. */
const perVhost: ReadonlySet<StatePrefix> = new Set(['retained', 'producers', 'transactions']);

/** The log name of the object an identity names. */
export function stateLogNameOf(prefix: StatePrefix, identity: { vhost: string; name: string }): string {
  return stateLogName(prefix, identity.vhost, perVhost.has(prefix) ? undefined : identity.name);
}

/** The kind prefix of a state log name, or undefined for any other log. */
export function statePrefixOf(logName: string): StatePrefix | undefined {
  const dot = logName.indexOf('.');
  if (dot < 0) return undefined;
  const head = logName.slice(0, dot);
  const prefix = head.endsWith('-h') ? head.slice(0, -2) : head;
  return statePrefixes.find((known) => known === prefix);
}
