/**
 * Authorization: the one place that decides whether a caller may run a command, whichever protocol
 * carried it. Until users have permissions every logged-in caller may do everything; the security
 * model (per-vhost configure / write / read patterns, topic permissions, Kafka ACLs) fills this in.
 */
import type { Command } from './commands.js';
import type { CallerContext } from './context.js';

export interface Authorizer {
  /** Throws `accessRefused` when `context` may not run `command`; must not allocate on the allowed path. */
  authorize(context: CallerContext, command: Command): void;
}

export const allowAll: Authorizer = {
  authorize() {},
};
