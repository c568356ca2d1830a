/**
 * The contract every command handler is written against: what it reaches of `BrokerCore` (`HandlerHost`)
 * and the shape of the table. The table is ./handlers.ts, which joins the families kept in files of
 * their own (./acl-handlers.ts, ./policy-handlers.ts); they import this file, not the table.
 */
import type { AclRequester } from '../acl-index.js';
import type { AclAction, AclOperation, AclResourceType } from '../acls.js';
import type { CoreStats } from '../api.js';
import type { Definitions, Users } from '../definitions.js';
import type { ConsumerGroups } from '../groups.js';
import type { VirtualHost } from '../internal.js';
import type { ConnectionCounts } from '../policy/limits.js';
import type { ProducerRegistry } from '../producers.js';
import type { Requests } from '../requests.js';
import type { RetainedSet } from '../retained.js';
import type { SessionManager } from '../sessions.js';
import type { TransactionalProducers } from '../transactions.js';
import type { Command, CommandKind, CommandResult } from './commands.js';
import type { CallerContext } from './context.js';
import type { Meters } from './meters.js';
import type { RateSampler } from './rates.js';

/** What handlers reach: `BrokerCore`'s internals. */
export interface HandlerHost {
  vhost(name: string): VirtualHost;
  /** The vhost when it is open; undefined once it was deleted or the broker closed. */
  openVhost(name: string): VirtualHost | undefined;
  requests(vhost: string): Requests;
  sessions(vhost: string): SessionManager;
  groups(vhost: string): ConsumerGroups;
  retained(vhost: string): RetainedSet;
  producers(vhost: string): ProducerRegistry;
  transactions(vhost: string): TransactionalProducers;
  vhostNames(): string[];
  /**
   * Opens the vhost (answered once stored). `created` runs only in the call that creates it, in the
   * same turn as the vhost's own definition is written, so what it writes is logged right behind it.
   */
  addVhost(name: string, created?: () => Promise<void> | undefined): Promise<void>;
  deleteVhost(name: string): Promise<void>;
  stats(): CoreStats;
  readonly users: Users;
  readonly definitions: Definitions;
  readonly meters: Meters;
  /** Samples `meters` into rates. */
  readonly rates: RateSampler;
  /** Live connections and channels, for vhost and user limits. */
  readonly connections: ConnectionCounts;
  /** Core's decision on a Kafka action of the caller (./authorize.ts). */
  authorizeAcl(context: CallerContext, who: AclRequester, action: AclAction): boolean;
  authorizeAclSome(
    context: CallerContext,
    who: AclRequester,
    resourceType: AclResourceType,
    operation: Exclude<AclOperation, 'ALL'>,
  ): boolean;
}

export type Handler<K extends CommandKind> = (
  host: HandlerHost,
  context: CallerContext,
  command: Command<K>,
) => CommandResult<K>;

export type Handlers = { readonly [K in CommandKind]: Handler<K> };
