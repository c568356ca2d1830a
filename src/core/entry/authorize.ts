/**
 * Authorization: the one place that decides whether a caller may run a command, whichever protocol
 * carried it. The model is RabbitMQ's (docs/security.md): a user has, per vhost, a permission of three
 * regular expressions — configure, write, read — over exchange and queue names (streams are queues;
 * the default exchange is checked as `amq.default`), topic permissions over the routing keys of topic
 * exchanges, and tags. `rules` below is the table: one rule per command kind, and the compiler makes
 * sure no kind is left out.
 *
 * Internal principals (core's housekeeping, the embedding API, a front end's plumbing) pass. Every
 * other principal is checked against a grant compiled once per change of the permission store and
 * cached per principal, so the allowed path of a publish tests compiled patterns and allocates nothing.
 * Further checks (Kafka's ACLs) can be added behind the permissions: each is asked only after the
 * permissions allowed the command.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { AclIndex, AclRequester } from '../acl-index.js';
import type { AclAction, AclOperation, AclResourceType } from '../acls.js';
import { isReplyAddress } from '../requests.js';
import type { ExchangeOptions, ExchangeType, QueueOptions } from '../types.js';
import type { Command, CommandKind } from './commands.js';
import {
  type CallerContext,
  internalPrincipal,
  type PermissionPatterns,
  type Principal,
  type TopicPatterns,
} from './context.js';
import { compileGrant, type Grant } from './grants.js';

export interface Authorizer {
  /** Throws `accessRefused` when `context` may not run `command`; must not allocate on the allowed path. */
  authorize(context: CallerContext, command: Command): void;
}

export const allowAll: Authorizer = {
  authorize() {},
};

/** What the authorizer reads: the permission store and, for a few rules, what exists. */
export interface AccessSource {
  /** Moves on with every change of users or permissions; grants compiled before are compiled again. */
  readonly accessGeneration: number;
  /** undefined: no such user (it may do nothing). */
  userTags(user: string): readonly string[] | undefined;
  permission(vhost: string, user: string): PermissionPatterns | undefined;
  topicPermissions(vhost: string, user: string): ReadonlyMap<string, TopicPatterns> | undefined;
  exchangeType(vhost: string, name: string): ExchangeType | undefined;
  queueExists(vhost: string, name: string): boolean;
  /** Kafka's ACL bindings, compiled (../acl-index.ts). */
  aclIndex(): AclIndex;
}

/** A decision made after the permissions allowed a command (Kafka's ACLs); throws `accessRefused`. */
export interface AccessCheck {
  check(context: CallerContext, command: Command): void;
}

type Permission = 'configure' | 'write' | 'read';
type ResourceKind = 'exchange' | 'queue';

/** Retained messages are routing keys of this exchange, where MQTT topics live. */
const retainedExchange = 'amq.topic';
/** Grants kept for (vhost, user) pairs before the cache starts afresh. */
const sharedGrantsMax = 100_000;

function refused(message: string): Error {
  return brokerError(ErrorCode.accessRefused, message);
}

/** The checks rules are made of; each throws RabbitMQ's refusal text. */
export class Checks {
  readonly #source: AccessSource;

  constructor(source: AccessSource) {
    this.#source = source;
  }

  resource(g: Grant, perm: Permission, kind: ResourceKind, name: string): void {
    // RabbitMQ checks the default exchange under the name `amq.default`.
    const checked = kind === 'exchange' && name === '' ? 'amq.default' : name;
    const pattern = perm === 'configure' ? g.configure : perm === 'write' ? g.write : g.read;
    if (pattern?.test(checked) === true) return;
    throw refused(
      `${perm} access to ${kind} '${checked}' in vhost '${g.vhost}' refused for user '${g.user}'`,
    );
  }

  /** A passive declare: any permission on the resource will do; refused as a declare would be. */
  anyResource(g: Grant, kind: ResourceKind, name: string): void {
    const checked = kind === 'exchange' && name === '' ? 'amq.default' : name;
    if (g.read?.test(checked) === true || g.write?.test(checked) === true) return;
    this.resource(g, 'configure', kind, name);
  }

  /** Topic authorisation: only topic exchanges, only those the user has a topic permission on. */
  topic(g: Grant, perm: 'write' | 'read', exchange: string, key: string): void {
    if (g.scopedTopics !== undefined) {
      this.#scopedTopic(g, perm, exchange, key);
      return;
    }
    const topic = g.topics?.get(exchange);
    if (topic === undefined) return;
    const pattern = perm === 'write' ? topic.write : topic.read;
    // The key first: an allowed key needs no look at the exchange, which only a refusal must make.
    if (pattern?.test(key) === true || this.#source.exchangeType(g.vhost, exchange) !== 'topic') return;
    throw refused(
      `${perm} access to topic '${key}' in exchange '${exchange}' in vhost '${g.vhost}' refused for user '${g.user}'`,
    );
  }

  /** A token's topic scopes: on a topic exchange, some scope of the permission must match exchange and key. */
  #scopedTopic(g: Grant, perm: 'write' | 'read', exchange: string, key: string): void {
    const scopes = perm === 'write' ? g.scopedTopics!.write : g.scopedTopics!.read;
    for (let i = 0; i < scopes.length; i++) {
      const [exchangePattern, keyPattern] = scopes[i]!;
      if (exchangePattern.test(exchange) && keyPattern.test(key)) return;
    }
    if (this.#source.exchangeType(g.vhost, exchange) !== 'topic') return;
    throw refused(
      `${perm} access to topic '${key}' in exchange '${exchange}' in vhost '${g.vhost}' refused for user '${g.user}'`,
    );
  }

  inVhost(g: Grant): void {
    if (!g.inVhost) throw refused(`access to vhost '${g.vhost}' refused for user '${g.user}'`);
  }

  /** Listings of a vhost: its users, and monitoring users for every vhost. */
  listing(g: Grant): void {
    if (!g.monitoring) this.inVhost(g);
  }

  administrator(g: Grant, kind: CommandKind): void {
    if (!g.administrator)
      throw refused(`${kind} refused for user '${g.user}': it needs the administrator tag`);
  }

  monitoring(g: Grant, kind: CommandKind): void {
    if (!g.monitoring) throw refused(`${kind} refused for user '${g.user}': it needs the monitoring tag`);
  }

  policymaker(g: Grant, kind: CommandKind): void {
    if (!g.policymaker) throw refused(`${kind} refused for user '${g.user}': it needs the policymaker tag`);
  }

  exchangeExists(g: Grant, name: string): boolean {
    return this.#source.exchangeType(g.vhost, name) !== undefined;
  }

  queueExists(g: Grant, name: string): boolean {
    return this.#source.queueExists(g.vhost, name);
  }
}

type Rule<K extends CommandKind> = (a: Checks, g: Grant, c: Command<K>) => void;
type Rules = { readonly [K in CommandKind]: Rule<K> };

const allowed = (): void => {};
const inVhost = (a: Checks, g: Grant): void => a.inVhost(g);
const listing = (a: Checks, g: Grant): void => a.listing(g);
const administrator = (a: Checks, g: Grant, c: Command): void => a.administrator(g, c.kind);
/** Reading one's own user or permissions needs no tag; anybody else's needs administrator. */
const selfOr = (a: Checks, g: Grant, c: Command & { user?: string; name?: string }): void => {
  if ((c.user ?? c.name) !== g.user) a.administrator(g, c.kind);
};
const readStream = (a: Checks, g: Grant, c: { stream: string }): void =>
  a.resource(g, 'read', 'queue', c.stream);
const configureStream = (a: Checks, g: Grant, c: { name: string }): void =>
  a.resource(g, 'configure', 'queue', c.name);

/** Publishing: write on the exchange, then the routing key on a topic exchange. */
function publish(a: Checks, g: Grant, c: { exchange: string; routingKey: string }): void {
  // A reply address is a capability its requester handed out: answering needs no write permission.
  if (c.exchange === '' && isReplyAddress(c.routingKey)) {
    a.inVhost(g);
    return;
  }
  a.resource(g, 'write', 'exchange', c.exchange);
  a.topic(g, 'write', c.exchange, c.routingKey);
}

/** Receiving what an exchange routes with a pattern (a binding, a subscription). */
function subscribe(a: Checks, g: Grant, c: { exchange: string; pattern: string }): void {
  a.resource(g, 'read', 'exchange', c.exchange);
  a.topic(g, 'read', c.exchange, c.pattern);
}

function bindQueue(a: Checks, g: Grant, c: { queue: string; exchange: string; routingKey: string }): void {
  a.resource(g, 'write', 'queue', c.queue);
  a.resource(g, 'read', 'exchange', c.exchange);
  a.topic(g, 'read', c.exchange, c.routingKey);
}

function bindExchange(
  a: Checks,
  g: Grant,
  c: { destination: string; source: string; routingKey: string },
): void {
  a.resource(g, 'write', 'exchange', c.destination);
  a.resource(g, 'read', 'exchange', c.source);
  a.topic(g, 'read', c.source, c.routingKey);
}

/** A new exchange with an alternate exchange also reads itself into that one (RabbitMQ). */
function declareExchange(a: Checks, g: Grant, c: { name: string; options: ExchangeOptions }): void {
  a.resource(g, 'configure', 'exchange', c.name);
  const alternate = c.options.arguments?.['alternate-exchange'];
  if (typeof alternate !== 'string' || a.exchangeExists(g, c.name)) return;
  a.resource(g, 'read', 'exchange', c.name);
  a.resource(g, 'write', 'exchange', alternate);
}

/** A new queue with a dead-letter exchange also reads itself into that one (RabbitMQ). */
function declareQueue(a: Checks, g: Grant, c: { name: string; options: QueueOptions }): void {
  a.resource(g, 'configure', 'queue', c.name);
  const dlx = c.options.deadLetterExchange;
  if (dlx === undefined || a.queueExists(g, c.name)) return;
  a.resource(g, 'read', 'queue', c.name);
  a.resource(g, 'write', 'exchange', dlx);
}

const brokerRules = {
  'vhost.list': allowed,
  'vhost.add': administrator,
  'vhost.delete': administrator,
  'vhost.open': inVhost,
  'access.describe': allowed,
  'broker.stats': (a, g, c) => a.monitoring(g, c.kind),
  'vhost.counts': listing,
  'user.list': administrator,
  'user.get': selfOr,
  'user.tags': selfOr,
  'user.put': administrator,
  'user.delete': administrator,
  'user.scram': administrator,
  'user.setScram': administrator,
  'user.verify': administrator,
  'user.defaultApplied': administrator,
  'user.markDefaultApplied': administrator,
  'permission.list': selfOr,
  'permission.put': administrator,
  'permission.delete': administrator,
  'topicPermission.list': selfOr,
  'topicPermission.put': administrator,
  'topicPermission.delete': administrator,
} satisfies Partial<Rules>;

const exchangeAndQueueRules = {
  'exchange.declare': declareExchange,
  'exchange.check': (a, g, c) =>
    c.publishing === true ? a.resource(g, 'write', 'exchange', c.name) : a.anyResource(g, 'exchange', c.name),
  'exchange.delete': (a, g, c) => a.resource(g, 'configure', 'exchange', c.name),
  'exchange.bind': bindExchange,
  'exchange.unbind': bindExchange,
  'exchange.list': listing,
  'queue.declare': declareQueue,
  'queue.check': (a, g, c) => a.anyResource(g, 'queue', c.name),
  'queue.peek': inVhost,
  'queue.type': inVhost,
  'definitions.durable': inVhost,
  'queue.delete': (a, g, c) => a.resource(g, 'configure', 'queue', c.name),
  'queue.purge': (a, g, c) => a.resource(g, 'read', 'queue', c.name),
  'queue.bind': bindQueue,
  'queue.unbind': bindQueue,
  'queue.list': listing,
  'queue.names': listing,
  'queue.rows': listing,
  'queue.depths': listing,
  'queue.counts': listing,
  'binding.list': listing,
  'subscription.check': subscribe,
} satisfies Partial<Rules>;

const messageRules = {
  'message.publish': publish,
  'request.send': publish,
  'queue.consume': (a, g, c) => a.resource(g, 'read', 'queue', c.queue),
  'queue.get': (a, g, c) => a.resource(g, 'read', 'queue', c.queue),
  'queue.take': (a, g, c) => a.resource(g, 'read', 'queue', c.queue),
  'queue.returnsLanded': (a, g, c) => a.resource(g, 'read', 'queue', c.queue),
  'queue.countsWritten': (a, g, c) => a.resource(g, 'read', 'queue', c.queue),
  // Settling and letting go act on what the connection already holds.
  'delivery.ack': allowed,
  'delivery.nack': allowed,
  'delivery.requeue': allowed,
  'delivery.hold': allowed,
  'owner.release': allowed,
  'connection.close': allowed,
} satisfies Partial<Rules>;

const streamRules = {
  'stream.create': configureStream,
  'stream.setAttributes': configureStream,
  'stream.delete': configureStream,
  'stream.addPartitions': configureStream,
  'stream.describe': (a, g, c) => a.anyResource(g, 'queue', c.name),
  'stream.list': listing,
  // A name found by id is what the listing shows.
  'stream.named': listing,
  'partition.bounds': (a, g, c) => a.anyResource(g, 'queue', c.stream),
  'partition.append': (a, g, c) => a.resource(g, 'write', 'queue', c.stream),
  'partition.read': readStream,
  'partition.readOffThread': readStream,
  'partition.offsetForTimestamp': readStream,
  'partition.wait': readStream,
  'offsets.commit': readStream,
  'offsets.fetch': readStream,
  'offsets.list': inVhost,
  'offsets.deleteGroup': inVhost,
  'group.list': listing,
  'group.membership': inVhost,
  'group.saveMembership': inVhost,
  'group.delete': inVhost,
  'group.shareStates': listing,
  'group.shareWrite': inVhost,
  'producer.init': inVhost,
  'producer.append': (a, g, c) => a.resource(g, 'write', 'queue', c.stream),
  'stream.configure': configureStream,
  // Deleting records destroys data, as deleting the stream does.
  'partition.deleteRecords': (a, g, c) => a.resource(g, 'configure', 'queue', c.stream),
  'partition.aborted': readStream,
  'partition.producers': (a, g, c) => a.anyResource(g, 'queue', c.stream),
  'offsets.delete': inVhost,
  'offsets.pending': inVhost,
} satisfies Partial<Rules>;

/**
 * Transactions: the coordinator's state is the producer's own (as `producer.init`); a partition joins a
 * transaction only for a user who may write to its stream, and a group's offsets as `offsets.commit`.
 */
const transactionRules = {
  'transaction.init': inVhost,
  'transaction.addPartitions': (a, g, c) => {
    for (const p of c.partitions) a.resource(g, 'write', 'queue', p.stream);
  },
  'transaction.addGroup': inVhost,
  'transaction.commitOffsets': (a, g, c) => {
    for (const p of c.offsets) readStream(a, g, p);
  },
  'transaction.end': inVhost,
  'transaction.describe': inVhost,
  'transaction.list': listing,
} satisfies Partial<Rules>;

const sessionRules = {
  'retained.set': (a, g, c) => publish(a, g, { exchange: retainedExchange, routingKey: c.message.key }),
  'retained.clear': (a, g, c) => publish(a, g, { exchange: retainedExchange, routingKey: c.key }),
  'retained.match': (a, g, c) => subscribe(a, g, { exchange: retainedExchange, pattern: c.pattern }),
  'retained.count': listing,
  // A session is its client's own: opening and running it needs access to the vhost; what reaches its
  // queue is decided by its subscriptions, each checked as a binding of the user's would be.
  'session.open': inVhost,
  'session.describe': inVhost,
  'session.current': inVhost,
  'session.list': listing,
  'session.subscribe': subscribe,
  'session.unsubscribe': inVhost,
  'session.groupSubscribe': subscribe,
  'session.groupUnsubscribe': inVhost,
  'session.inflight': inVhost,
  'session.holdsStored': inVhost,
  'session.setInflight': inVhost,
  'session.deleteInflight': inVhost,
  'session.connect': inVhost,
  'session.disconnect': inVhost,
  'session.destroy': inVhost,
} satisfies Partial<Rules>;

/**
 * Policies and limits, as RabbitMQ's management API: a policymaker sets policies in a vhost it has
 * permissions in; operator policies and limits need an administrator; they are read by anyone who may
 * list the vhost. Counting connections and channels is part of opening them (the login decided).
 */
const policyRules = {
  'acl.list': administrator,
  'acl.create': administrator,
  'acl.delete': administrator,
  // A front end asks about its own caller; the answer is about that caller alone.
  'acl.authorize': allowed,
  'acl.authorizeSome': allowed,
  'policy.list': listing,
  'policy.applied': listing,
  'policy.put': (a, g, c) => policyChange(a, g, c),
  'policy.delete': (a, g, c) => policyChange(a, g, c),
  'limits.vhost': listing,
  'limits.users': listing,
  'limits.setVhost': administrator,
  'limits.clearVhost': administrator,
  'limits.setUser': administrator,
  'limits.clearUser': administrator,
  'connection.open': inVhost,
  'channel.open': allowed,
  'channel.close': allowed,
} satisfies Partial<Rules>;

function policyChange(a: Checks, g: Grant, c: Command & { family: string }): void {
  if (c.family === 'operator') {
    a.administrator(g, c.kind);
    return;
  }
  a.policymaker(g, c.kind);
  a.inVhost(g);
}

const userPrincipalPrefix = 'User:';
const anonymousUser = 'ANONYMOUS';

/**
 * The permission a Kafka action needs besides the ACLs (docs/security.md): a topic is the queue of
 * its name (read to READ, write to WRITE, any permission to describe, configure for the rest); groups
 * and transactional ids need access to the vhost, as do idempotent producers; the rest of the
 * cluster's operations the `administrator` tag.
 */
export function aclPermits(g: Grant, action: AclAction): boolean {
  const name = action.resourceName;
  switch (action.resourceType) {
    case 'TOPIC':
      switch (action.operation) {
        case 'READ':
          return g.read?.test(name) === true;
        case 'WRITE':
          return g.write?.test(name) === true;
        case 'DESCRIBE':
        case 'DESCRIBE_CONFIGS':
          return (
            g.read?.test(name) === true || g.write?.test(name) === true || g.configure?.test(name) === true
          );
        default:
          return g.configure?.test(name) === true;
      }
    case 'GROUP':
    case 'TRANSACTIONAL_ID':
      return g.inVhost;
    case 'CLUSTER':
      return action.operation === 'IDEMPOTENT_WRITE' ? g.inVhost : g.administrator;
  }
}
/**
 * Operators: a vhost's connections and consumers are listed to those who may list it; closing a
 * connection is the administrator's (RabbitMQ's management user may close only its own: not here).
 */
const operatorRules = {
  'connection.list': listing,
  'consumer.list': listing,
  'connection.kill': administrator,
  'meters.read': (a, g, c) => (c.objects === 'total' ? a.monitoring(g, c.kind) : a.listing(g)),
  'meters.samples': (a, g, c) => a.monitoring(g, c.kind),
  // A front end counts what its own connection confirmed.
  'meters.confirm': allowed,
} satisfies Partial<Rules>;

/** The table: command kind → what the caller needs. */
export const rules: Rules = {
  ...brokerRules,
  ...exchangeAndQueueRules,
  ...messageRules,
  ...streamRules,
  ...transactionRules,
  ...sessionRules,
  ...policyRules,
  ...operatorRules,
};

/** The table as a map: a lookup by kind on every command, quicker than a property of that many names. */
const ruleOf: ReadonlyMap<CommandKind, Rule<CommandKind>> = new Map(
  Object.entries(rules) as Array<[CommandKind, Rule<CommandKind>]>,
);

/**
 * A principal's grant for the vhost it last worked in, the store generation it was made at and, for a
 * principal carrying its own permissions, their generation.
 */
interface Slot {
  generation: number;
  carried: number;
  vhost: string;
  grant: Grant;
}

export class PermissionAuthorizer implements Authorizer {
  readonly #source: AccessSource;
  readonly #checks: Checks;
  readonly #extra: readonly AccessCheck[];
  readonly #slots = new WeakMap<Principal, Slot>();
  /** The principal of the last grant asked for and its slot (kept alive until another one asks). */
  #lastPrincipal: Principal | undefined;
  #lastSlot: Slot | undefined;
  /** Slots shared by the principals of one user whose grant is the user's, for `#userSlotsGeneration`. */
  readonly #userSlots = new Map<string, Slot>();
  #userSlotsGeneration = -1;
  /** Grants without a client id, by vhost then user, for the generation `#sharedGeneration`. */
  readonly #shared = new Map<string, Map<string, Grant>>();
  #sharedCount = 0;
  #sharedGeneration = -1;

  constructor(source: AccessSource, extra: readonly AccessCheck[] = []) {
    this.#source = source;
    this.#checks = new Checks(source);
    this.#extra = extra;
  }

  authorize(context: CallerContext, command: Command): void {
    if (context.principal === internalPrincipal) return;
    const grant = this.grantOf(context.principal, context.vhost);
    ruleOf.get(command.kind)!(this.#checks, grant, command);
    for (let i = 0; i < this.#extra.length; i++) this.#extra[i]!.check(context, command);
  }

  /**
   * A Kafka action of the caller acting as `who`: super users (the principal names a user with the
   * `administrator` tag) may do everything; anyone else needs both the permission the action maps to
   * (`aclPermits`) and the ACLs, which leave a resource no binding applies to to the permissions.
   */
  authorizeAcl(context: CallerContext, who: AclRequester, action: AclAction): boolean {
    if (this.#superUser(context, who)) return true;
    if (!this.#permits(context, action)) return false;
    return this.#source.aclIndex().decide(who, action) !== 'denied';
  }

  /**
   * Whether the caller may do `operation` on some resource of the type (KIP-679); its permissions
   * need only give it the vhost. The ACLs are asked first of one literal name, as Kafka asks them, so
   * a type with resources no binding names is allowed.
   */
  authorizeAclSome(
    context: CallerContext,
    who: AclRequester,
    resourceType: AclResourceType,
    operation: Exclude<AclOperation, 'ALL'>,
  ): boolean {
    if (this.#superUser(context, who)) return true;
    if (context.principal !== internalPrincipal && !this.grantOf(context.principal, context.vhost).inVhost)
      return false;
    const index = this.#source.aclIndex();
    if (index.decide(who, { resourceType, resourceName: 'hardcode', operation }) !== 'denied') return true;
    return index.allowsSomeOf(who, resourceType, operation);
  }

  #superUser(context: CallerContext, who: AclRequester): boolean {
    if (!who.principal.startsWith(userPrincipalPrefix)) return false;
    const user = who.principal.slice(userPrincipalPrefix.length);
    // An unauthenticated Kafka client is `User:ANONYMOUS`, never a user of the store.
    if (user === anonymousUser) return false;
    const principal = context.principal;
    // A token's user (SASL/OAUTHBEARER): its token's tags decide; a stored user of that name lends nothing.
    if (principal.carried !== undefined && principal.user === user)
      return this.grantOf(principal, context.vhost).administrator;
    return this.#source.userTags(user)?.includes('administrator') === true;
  }

  #permits(context: CallerContext, action: AclAction): boolean {
    if (context.principal === internalPrincipal) return true;
    return aclPermits(this.grantOf(context.principal, context.vhost), action);
  }

  /**
   * The principal's compiled grant in `vhost`, compiled again after any change of the store. A
   * principal whose grant is its user's (stored permissions, no `{client_id}` pattern for it) uses its
   * user's slot: the decisions cannot differ, and a fleet of one user's connections then holds one
   * slot instead of one each.
   */
  grantOf(principal: Principal, vhost: string): Grant {
    const generation = this.#source.accessGeneration;
    if (generation !== this.#userSlotsGeneration) {
      this.#userSlots.clear();
      this.#userSlotsGeneration = generation;
    }
    const carried = principal.carried?.generation ?? 0;
    // The caller of the last check is most often the caller of this one (a publisher's stream).
    let slot = principal === this.#lastPrincipal ? this.#lastSlot : this.#slotOf(principal);
    if (
      slot === undefined ||
      slot.generation !== generation ||
      slot.carried !== carried ||
      slot.vhost !== vhost
    ) {
      const grant = this.#resolve(principal, vhost, generation);
      slot = this.#place(principal, { generation, carried, vhost, grant });
    }
    this.#lastPrincipal = principal;
    this.#lastSlot = slot;
    return slot.grant;
  }

  #slotOf(principal: Principal): Slot | undefined {
    const own = this.#slots.get(principal);
    if (own !== undefined || principal.carried !== undefined) return own;
    return this.#userSlots.get(principal.user);
  }

  /** Keeps `fresh` in the user's slot when its grant is the user's, else in one of the principal's own. */
  #place(principal: Principal, fresh: Slot): Slot {
    const own = this.#slots.get(principal);
    const usersGrant =
      principal.carried === undefined && (principal.clientId === undefined || !fresh.grant.perClient);
    if (!usersGrant) {
      if (own === undefined) {
        this.#slots.set(principal, fresh);
        return fresh;
      }
      return Object.assign(own, fresh);
    }
    if (own !== undefined) this.#slots.delete(principal);
    const users = this.#userSlots.get(principal.user);
    if (users !== undefined) return Object.assign(users, fresh);
    if (this.#userSlots.size >= sharedGrantsMax) this.#userSlots.clear();
    this.#userSlots.set(principal.user, fresh);
    return fresh;
  }

  #resolve(principal: Principal, vhost: string, generation: number): Grant {
    const { user, clientId, carried } = principal;
    if (carried !== undefined) {
      const permission = carried.permission(vhost);
      const topics = carried.topicPermissions(vhost);
      const scopedTopics = carried.scopedTopics?.(vhost);
      const tags = carried.tags ?? principal.tags;
      return compileGrant({ user, vhost, tags, permission, topics, clientId, scopedTopics });
    }
    const shared = this.#sharedGrant(user, vhost, generation);
    if (!shared.perClient || clientId === undefined) return shared;
    const tags = this.#source.userTags(user) ?? [];
    const permission = this.#source.permission(vhost, user);
    const topics = this.#source.topicPermissions(vhost, user);
    return compileGrant({ user, vhost, tags, permission, topics, clientId });
  }

  #sharedGrant(user: string, vhost: string, generation: number): Grant {
    if (generation !== this.#sharedGeneration || this.#sharedCount >= sharedGrantsMax) {
      this.#shared.clear();
      this.#sharedCount = 0;
      this.#sharedGeneration = generation;
    }
    let users = this.#shared.get(vhost);
    if (users === undefined) {
      users = new Map();
      this.#shared.set(vhost, users);
    }
    let grant = users.get(user);
    if (grant === undefined) {
      const tags = this.#source.userTags(user);
      // A user that does not exist (deleted since it logged in) may do nothing.
      const permission = tags === undefined ? undefined : this.#source.permission(vhost, user);
      const topics = tags === undefined ? undefined : this.#source.topicPermissions(vhost, user);
      grant = compileGrant({ user, vhost, tags: tags ?? [], permission, topics });
      users.set(user, grant);
      this.#sharedCount++;
    }
    return grant;
  }
}
