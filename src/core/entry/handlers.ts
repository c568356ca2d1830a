/**
 * One handler per command kind. A handler turns a command and its caller's context into a call on
 * the object that owns the state (a vhost, its queues and streams, a session, the user store). Owner
 * names and exclusive-queue ownership are derived from the context here, so no adapter can name
 * another connection's channel or queue.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { SessionSummary } from '../api.js';
import { partitionProducers } from '../partition-producers.js';
import { fullPermission } from '../permissions.js';
import { isReplyAddress } from '../requests.js';
import type { Session } from '../sessions.js';
import type { ConsumeOptions, PublishOptions, PublishResult, QueueOptions } from '../types.js';
import type { MessageCounts, MeteredKind, MeterRow, RequestResult } from '../views.js';
import { aclHandlers } from './acl-handlers.js';
import type { Command } from './commands.js';
import { type CallerContext, internalPrincipal } from './context.js';
import type { HandlerHost, Handlers } from './handler-host.js';
import { noCounts } from './meters.js';
import { policyHandlers } from './policy-handlers.js';

/** The filter fields of a listing command, without its kind. */
function filterOf(c: { vhost?: string; user?: string }): { vhost?: string; user?: string } {
  return {
    ...(c.vhost === undefined ? {} : { vhost: c.vhost }),
    ...(c.user === undefined ? {} : { user: c.user }),
  };
}

/** The holder of deliveries named `owner` within the caller's connection. */
function ownerOf(context: CallerContext, owner: string): string {
  return `${context.connectionId}/${owner}`;
}

/** A queue declared exclusive belongs to the declaring connection, whatever owner the caller named. */
function ownedOptions(context: CallerContext, options: QueueOptions): QueueOptions {
  if (options.exclusiveOwner === undefined || options.exclusiveOwner === context.connectionId) return options;
  return { ...options, exclusiveOwner: context.connectionId };
}

/** The publish options with the caller's connection as publisher; the given object when it says so already. */
function publishOptions(context: CallerContext, options: PublishOptions): PublishOptions {
  if (options.publisher === context.connectionId) return options;
  return { ...options, publisher: context.connectionId };
}

function consumeOptions(context: CallerContext, options: ConsumeOptions): ConsumeOptions {
  return { ...options, owner: ownerOf(context, options.owner) };
}

function sessionOf(host: HandlerHost, context: CallerContext, id: string, incarnation: number): Session {
  const session = host.sessions(context.vhost).session(id);
  if (session === undefined || session.incarnation !== incarnation) {
    throw brokerError(
      ErrorCode.invalidState,
      `Session '${id}' in vhost '${context.vhost}' was replaced or ended`,
    );
  }
  return session;
}

function summaryOf(session: Session): SessionSummary {
  return session.summary();
}

/**
 * A new vhost: a user that creates one gets full permissions on it, as in RabbitMQ. The grant is
 * written right behind the vhost, before any other request can change that user's permissions on
 * it: granted once the vhost was stored, it overwrote a permission changed or revoked meanwhile
 * (answered, and then contradicted, live and after a restart).
 */
function addVhost(host: HandlerHost, ctx: CallerContext, name: string): Promise<void> {
  const { principal } = ctx;
  if (principal === internalPrincipal) return host.addVhost(name);
  const grant = () =>
    host.users.get(principal.user) === undefined
      ? undefined
      : host.definitions.permissions.put(name, principal.user, fullPermission);
  return host.addVhost(name, grant);
}

const vhostAndUsers = {
  'vhost.list': (host) => host.vhostNames(),
  'vhost.add': (host, ctx, c) => addVhost(host, ctx, c.name),
  'vhost.delete': (host, _ctx, c) => host.deleteVhost(c.name),
  'vhost.open': (host, ctx) => {
    host.vhost(ctx.vhost);
  },
  'access.describe': (host, ctx) => {
    const { user, tags, carried } = ctx.principal;
    // A token's principal is what its token says, whatever the user store holds under that name.
    if (carried !== undefined) {
      const vhosts = host.vhostNames().filter((vhost) => carried.permission(vhost) !== undefined);
      return { user, tags: [...(carried.tags ?? tags)], vhosts };
    }
    return {
      user,
      tags: host.users.tags(user) ?? [...tags],
      vhosts: host.definitions.permissions.vhostsOf(user),
    };
  },
  'broker.stats': (host) => host.stats(),
  'vhost.counts': (host, ctx) => host.vhost(ctx.vhost).counts(),
  'user.list': (host) => host.users.names().flatMap((name) => host.users.get(name) ?? []),
  'user.get': (host, _ctx, c) => host.users.get(c.name),
  'user.tags': (host, _ctx, c) => host.users.tags(c.name),
  'user.put': (host, _ctx, c) => host.users.putUser(c.name, c.credential, c.tags),
  'user.delete': (host, _ctx, c) => host.users.delete(c.name),
  'user.scram': (host, _ctx, c) => host.users.scram(c.name),
  'user.setScram': (host, _ctx, c) => host.users.setScram(c.name, c.mechanism, c.credential),
  'permission.list': (host, _ctx, c) => host.definitions.permissions.list(filterOf(c)),
  'permission.put': (host, _ctx, c) => host.definitions.permissions.put(c.vhost, c.user, c.permission),
  'permission.delete': (host, _ctx, c) => host.definitions.permissions.delete(c.vhost, c.user),
  'topicPermission.list': (host, _ctx, c) => host.definitions.permissions.listTopics(filterOf(c)),
  'topicPermission.put': (host, _ctx, c) =>
    host.definitions.permissions.putTopic(c.vhost, c.user, c.exchange, c.permission),
  'topicPermission.delete': (host, _ctx, c) =>
    host.definitions.permissions.deleteTopic(c.vhost, c.user, c.exchange),
  'user.verify': (host, _ctx, c) => host.users.verify(c.name, c.password, c.options),
  'user.defaultApplied': (host) => host.definitions.defaultUserApplied,
  'user.markDefaultApplied': (host) => host.definitions.markDefaultUserApplied(),
} satisfies Partial<Handlers>;

const exchanges = {
  'exchange.declare': (host, ctx, c) => host.vhost(ctx.vhost).declareExchange(c.name, c.options),
  'exchange.check': (host, ctx, c) => host.vhost(ctx.vhost).checkExchange(c.name),
  'exchange.delete': (host, ctx, c) => host.vhost(ctx.vhost).deleteExchange(c.name, { ifUnused: c.ifUnused }),
  'exchange.bind': (host, ctx, c) =>
    host.vhost(ctx.vhost).bindExchange(c.destination, c.source, c.routingKey, c.args),
  'exchange.unbind': (host, ctx, c) =>
    host.vhost(ctx.vhost).unbindExchange(c.destination, c.source, c.routingKey, c.args),
  'exchange.list': (host, ctx) => host.vhost(ctx.vhost).listExchanges(),
} satisfies Partial<Handlers>;

const queues = {
  'queue.declare': (host, ctx, c) =>
    host.vhost(ctx.vhost).declareQueue(c.name, ownedOptions(ctx, c.options), ctx.connectionId, c.serverNamed),
  'queue.check': (host, ctx, c) => host.vhost(ctx.vhost).checkQueue(c.name, ctx.connectionId),
  'queue.peek': (host, ctx, c) => host.vhost(ctx.vhost).peekQueue?.(c.name),
  'queue.type': (host, ctx, c) => host.vhost(ctx.vhost).queueType(c.name),
  'definitions.durable': (host) => host.definitions.flush(),
  'queue.delete': (host, ctx, c) =>
    host.vhost(ctx.vhost).deleteQueue(c.name, {
      ifUnused: c.ifUnused,
      ifEmpty: c.ifEmpty,
      connectionId: ctx.connectionId,
    }),
  'queue.purge': (host, ctx, c) => host.vhost(ctx.vhost).purgeQueue(c.name, ctx.connectionId),
  'queue.bind': (host, ctx, c) => host.vhost(ctx.vhost).bindQueue(c.queue, c.exchange, c.routingKey, c.args),
  'queue.unbind': (host, ctx, c) =>
    host.vhost(ctx.vhost).unbindQueue(c.queue, c.exchange, c.routingKey, c.args),
  'queue.list': (host, ctx) => host.vhost(ctx.vhost).listQueues(),
  'queue.names': (host, ctx, c) => host.vhost(ctx.vhost).queueNames(c.sorted),
  'queue.rows': (host, ctx, c) => host.vhost(ctx.vhost).queueRows(c.names),
  'queue.depths': (host, ctx) => host.vhost(ctx.vhost).queueDepths(),
  'queue.counts': (host, ctx, c) => {
    const counts = host.meters.queue(ctx.vhost, c.name);
    return counts === undefined ? undefined : { ...counts };
  },
  'binding.list': (host, ctx, c) => host.vhost(ctx.vhost).listBindings(c.defaults ?? true),
  'subscription.check': (host, ctx, c) => {
    host.vhost(ctx.vhost).checkExchange(c.exchange);
  },
} satisfies Partial<Handlers>;

const messages = {
  'message.publish': (host, ctx, c) =>
    c.exchange === '' && isReplyAddress(c.routingKey)
      ? host.requests(ctx.vhost).reply(c.routingKey, c.message)
      : host.vhost(ctx.vhost).publish(c.exchange, c.routingKey, c.message, publishOptions(ctx, c.options)),
  'queue.consume': (host, ctx, c) => host.vhost(ctx.vhost).consume(c.queue, consumeOptions(ctx, c.options)),
  'queue.get': (host, ctx, c) =>
    host.vhost(ctx.vhost).get(c.queue, {
      noAck: c.noAck,
      owner: ownerOf(ctx, c.owner),
      connectionId: ctx.connectionId,
    }),
  'queue.take': (host, ctx, c) =>
    host
      .vhost(ctx.vhost)
      .take(
        c.queue,
        { noAck: c.noAck, owner: ownerOf(ctx, c.owner), connectionId: ctx.connectionId },
        c.countMax,
      ),
  'queue.returnsLanded': (host, ctx, c) => host.openVhost(ctx.vhost)?.returnsLanded(c.queue),
  'queue.countsWritten': (host, ctx, c) => host.openVhost(ctx.vhost)?.countsWritten(c.queue),
  // Settling and letting go are no-ops once the vhost is gone (deleted, or the broker closing while
  // connections wind down): what they would settle went with it.
  'delivery.ack': (host, ctx, c) => host.openVhost(ctx.vhost)?.ack(c.queue, c.id),
  'delivery.nack': (host, ctx, c) => host.openVhost(ctx.vhost)?.nack(c.queue, c.id, c.requeue),
  'delivery.requeue': (host, ctx, c) =>
    host.vhost(ctx.vhost).requeue(c.queue, c.id, { atTail: c.atTail, counted: c.counted }),
  'delivery.hold': (host, ctx, c) => host.vhost(ctx.vhost).holdFor(c.queue, c.id, c.timeoutMs),
  'owner.release': (host, ctx, c) => host.openVhost(ctx.vhost)?.releaseOwner(ownerOf(ctx, c.owner)),
  'connection.close': (host, ctx) => {
    host.connections.close(ctx.connectionId);
    host.openVhost(ctx.vhost)?.closeConnection(ctx.connectionId);
  },
  'request.send': (host, ctx, c) => sendRequest(host, ctx, c),
  'connection.list': (host, ctx) => {
    host.vhost(ctx.vhost);
    return host.connections.live(ctx.vhost);
  },
  'connection.kill': (host, ctx, c) => {
    const found = host.connections.live(ctx.vhost).find((row) => row.description.name === c.name);
    found?.description.close(c.reason);
    return found !== undefined;
  },
  'consumer.list': (host, ctx) => host.vhost(ctx.vhost).listConsumers(),
  'meters.read': (host, ctx, c) => readMeters(host, ctx.vhost, c.objects, c.names),
  'meters.samples': (host) => host.rates.totalSamples(),
  'meters.confirm': () => undefined,
} satisfies Partial<Handlers>;

/** Counters and rates of one kind of object in `vhost` (connections: those of the vhost). */
function readMeters(
  host: HandlerHost,
  vhost: string,
  objects: MeteredKind | 'total',
  names: readonly string[] | undefined,
): MeterRow[] {
  const { meters, rates } = host;
  const row = (name: string, counts: MessageCounts) => ({
    name,
    counts: { ...counts },
    rates: rates.rates(counts),
  });
  if (objects === 'total') return [row('', meters.total)];
  host.vhost(vhost);
  if (names !== undefined && (objects === 'queue' || objects === 'exchange')) {
    const rows: MeterRow[] = [];
    for (const name of names) {
      const counts = objects === 'queue' ? meters.queue(vhost, name) : meters.exchange(vhost, name);
      if (counts !== undefined) rows.push(row(name, counts));
    }
    return rows;
  }
  if (objects !== 'connection' && objects !== 'channel')
    return [...meters.each(objects, vhost)].map(([name, counts]) => row(name, counts));
  const live = host.connections.live(vhost);
  // A connection that never counted anything has no counters of its own (an idle one costs none).
  if (objects === 'connection')
    return live.map(({ connectionId }) => row(connectionId, meters.connection(connectionId) ?? noCounts));
  const mine = new Set(live.map((c) => c.connectionId));
  return [...meters.each(objects)]
    .filter(([name]) => mine.has(name.slice(0, name.lastIndexOf('/'))))
    .map(([name, counts]) => row(name, counts));
}

/**
 * Publishes a request with a fresh reply address. The request expires when its timeout does, so no
 * responder is handed one its requester gave up on; a request routed nowhere gets no reply at once.
 */
function sendRequest(host: HandlerHost, ctx: CallerContext, c: Command<'request.send'>): RequestResult {
  const pending = host.requests(ctx.vhost).open(c.timeoutMs);
  const { properties } = c.message;
  const expirationMs = Math.min(properties.expirationMs ?? c.timeoutMs, c.timeoutMs);
  const message = {
    body: c.message.body,
    properties: { ...properties, replyTo: pending.replyTo, expirationMs },
  };
  let published: PublishResult;
  try {
    published = host.vhost(ctx.vhost).publish(c.exchange, c.routingKey, message, {
      ...c.options,
      publisher: ctx.connectionId,
    });
  } catch (err) {
    pending.cancel();
    throw err;
  }
  if (published.routedCount === 0) pending.cancel();
  return { ...published, replyTo: pending.replyTo, reply: pending.reply };
}

const streams = {
  'stream.create': (host, ctx, c) => {
    const { kind: _kind, name, ...options } = c;
    return host.vhost(ctx.vhost).createStream(name, options);
  },
  'stream.setAttributes': (host, ctx, c) => host.vhost(ctx.vhost).setStreamAttributes(c.name, c.attributes),
  'stream.configure': (host, ctx, c) => host.vhost(ctx.vhost).configureStream(c.name, c.settings),
  'stream.delete': (host, ctx, c) => host.vhost(ctx.vhost).deleteStream(c.name),
  'stream.addPartitions': (host, ctx, c) => host.vhost(ctx.vhost).addPartitions(c.name, c.total),
  'stream.describe': (host, ctx, c) => host.vhost(ctx.vhost).stream(c.name),
  'stream.list': (host, ctx) => host.vhost(ctx.vhost).streams(),
  'stream.named': (host, ctx, c) => host.vhost(ctx.vhost).streamNameOf(c.id),
  'partition.bounds': (host, ctx, c) => {
    const partition = host.vhost(ctx.vhost).partition(c.stream, c.partition);
    const { startOffset, endOffset, stableOffset, sizeBytes } = partition;
    return { startOffset, endOffset, stableOffset, sizeBytes };
  },
  'partition.deleteRecords': (host, ctx, c) =>
    host.vhost(ctx.vhost).deleteRecords(c.stream, c.partition, c.before),
  'partition.append': (host, ctx, c) =>
    host.vhost(ctx.vhost).partition(c.stream, c.partition).append(c.payload, c.options),
  'partition.read': (host, ctx, c) => {
    const { kind: _kind, stream, partition, offset, ...options } = c;
    return host.vhost(ctx.vhost).partition(stream, partition).read(offset, options);
  },
  'partition.readOffThread': (host, ctx, c) => {
    const { kind: _kind, stream, partition, offset, ...options } = c;
    return host.vhost(ctx.vhost).partition(stream, partition).readOffThread(offset, options);
  },
  'partition.offsetForTimestamp': (host, ctx, c) =>
    host.vhost(ctx.vhost).partition(c.stream, c.partition).offsetForTimestamp(c.timestamp),
  'partition.wait': (host, ctx, c) =>
    host.vhost(ctx.vhost).partition(c.stream, c.partition).waitFor(c.offset, c.timeoutMs, c.committed),
  'partition.aborted': (host, ctx, c) =>
    host.vhost(ctx.vhost).partition(c.stream, c.partition).abortedBetween(c.from, c.to),
  'partition.producers': (host, ctx, c) => {
    const partition = host.vhost(ctx.vhost).partition(c.stream, c.partition);
    const txns = host.transactions(ctx.vhost);
    const batches = host.producers(ctx.vhost).onPartition(c.stream, c.partition);
    const marks = txns.marksOn(c.stream, c.partition);
    const openSince = (producerId: number) => txns.openSince(producerId, c.stream, c.partition);
    return partitionProducers(partition, batches, marks, openSince);
  },
  'offsets.commit': (host, ctx, c) =>
    host.vhost(ctx.vhost).commitOffset(c.group, c.stream, c.partition, c.offset),
  'offsets.fetch': (host, ctx, c) => host.vhost(ctx.vhost).fetchOffset(c.group, c.stream, c.partition),
  'offsets.list': (host, ctx, c) => host.vhost(ctx.vhost).groupOffsets(c.group),
  'offsets.deleteGroup': (host, ctx, c) => host.vhost(ctx.vhost).deleteGroupOffsets(c.group),
  'offsets.delete': (host, ctx, c) => host.vhost(ctx.vhost).deletePartitionOffsets(c.group, c.partitions),
  'offsets.pending': (host, ctx, c) =>
    host.transactions(ctx.vhost).pendingOffset(c.group, c.stream, c.partition),
  'producer.append': (host, ctx, c) =>
    host.vhost(ctx.vhost).appendIdempotent(c.stream, c.partition, c.batch, c.payload, c.options),
} satisfies Partial<Handlers>;

const objects = {
  'group.list': (host, ctx) => host.groups(ctx.vhost).list(),
  'group.membership': (host, ctx, c) => host.groups(ctx.vhost).membership(c.group),
  'group.saveMembership': (host, ctx, c) => host.groups(ctx.vhost).saveMembership(c.group, c.membership),
  'group.delete': (host, ctx, c) => host.groups(ctx.vhost).delete(c.group),
  'group.shareStates': (host, ctx) => host.groups(ctx.vhost).shareStates(),
  'group.shareWrite': (host, ctx, c) => host.groups(ctx.vhost).writeShare(c.group, c.change),
  'producer.init': (host, ctx, c) => host.producers(ctx.vhost).init(c.producerId, c.epoch),
  'transaction.init': (host, ctx, c) =>
    host.transactions(ctx.vhost).init(c.transactionalId, c.timeoutMs, c.producerId, c.epoch),
  'transaction.addPartitions': (host, ctx, c) =>
    host.transactions(ctx.vhost).addPartitions(c.transactionalId, c.producerId, c.epoch, c.partitions),
  'transaction.addGroup': (host, ctx, c) =>
    host.transactions(ctx.vhost).addGroup(c.transactionalId, c.producerId, c.epoch, c.group),
  'transaction.commitOffsets': (host, ctx, c) =>
    host
      .transactions(ctx.vhost)
      .commitOffsets(c.transactionalId, c.producerId, c.epoch, c.group, c.offsets, c.addGroup === true),
  'transaction.end': (host, ctx, c) =>
    host
      .transactions(ctx.vhost)
      .end(c.transactionalId, c.producerId, c.epoch, c.commit, c.bumpEpoch === true),
  'transaction.describe': (host, ctx, c) => host.transactions(ctx.vhost).describe(c.transactionalId),
  'transaction.list': (host, ctx) => host.transactions(ctx.vhost).list(),
  'retained.set': (host, ctx, c) => host.retained(ctx.vhost).set(c.message),
  'retained.clear': (host, ctx, c) => host.retained(ctx.vhost).clear(c.key),
  'retained.match': (host, ctx, c) => host.retained(ctx.vhost).match(c.pattern),
  'retained.count': (host, ctx) => host.retained(ctx.vhost).size,
} satisfies Partial<Handlers>;

const sessions = {
  'session.open': async (host, ctx, c) => {
    const { kind: _kind, id, ...options } = c;
    const session = await host.sessions(ctx.vhost).openSession(id, options);
    return { id, incarnation: session.incarnation, durable: session.durable, present: session.present };
  },
  'session.describe': (host, ctx, c) => {
    const session = host.sessions(ctx.vhost).session(c.id);
    return session === undefined ? undefined : summaryOf(session);
  },
  'session.current': (host, ctx, c) => host.sessions(ctx.vhost).session(c.id)?.incarnation === c.incarnation,
  'session.list': (host, ctx) => host.sessions(ctx.vhost).listSessions(),
  'session.subscribe': (host, ctx, c) =>
    sessionOf(host, ctx, c.id, c.incarnation).subscribe(c.exchange, c.pattern, c.options),
  'session.unsubscribe': (host, ctx, c) =>
    sessionOf(host, ctx, c.id, c.incarnation).unsubscribe(c.exchange, c.pattern),
  'session.groupSubscribe': (host, ctx, c) =>
    sessionOf(host, ctx, c.id, c.incarnation).groupSubscribe(c.group, c.exchange, c.pattern, c.options),
  'session.groupUnsubscribe': (host, ctx, c) =>
    sessionOf(host, ctx, c.id, c.incarnation).groupUnsubscribe(c.group, c.exchange, c.pattern),
  'session.inflight': (host, ctx, c) => sessionOf(host, ctx, c.id, c.incarnation).inflight(),
  'session.holdsStored': (host, ctx, c) => sessionOf(host, ctx, c.id, c.incarnation).holdsStored(c.offset),
  'session.setInflight': (host, ctx, c) =>
    sessionOf(host, ctx, c.id, c.incarnation).setInflight(c.packetId, c.deliveryId),
  'session.deleteInflight': (host, ctx, c) =>
    sessionOf(host, ctx, c.id, c.incarnation).deleteInflight(c.packetId),
  'session.connect': (host, ctx, c) => sessionOf(host, ctx, c.id, c.incarnation).connect(c.expiryMs),
  'session.disconnect': (host, ctx, c) => sessionOf(host, ctx, c.id, c.incarnation).disconnect(c.expiryMs),
  'session.destroy': (host, ctx, c) => sessionOf(host, ctx, c.id, c.incarnation).destroy(),
} satisfies Partial<Handlers>;

export const handlers: Handlers = {
  ...vhostAndUsers,
  ...exchanges,
  ...queues,
  ...messages,
  ...streams,
  ...objects,
  ...sessions,
  ...policyHandlers,
  ...aclHandlers,
};
