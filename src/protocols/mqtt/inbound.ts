/**
 * PUBLISH from a client and PUBREL (MQTT 5.0 §3.3, §3.6, §4.3): topic aliases, validation, our
 * Receive Maximum, retained messages, routing into the core through `amq.topic`, then PUBACK (QoS 1)
 * or PUBREC (QoS 2) once the core has the message as safely as it promises.
 * QoS 2 uses "method A" (§4.3.3): the message is routed on PUBLISH and its packet id remembered
 * until PUBREL, so a resent PUBLISH with DUP is not routed twice. A durable session stores the id
 * too, once the message is stored and before the PUBREC, and its release before the PUBCOMP: the
 * id is part of the session state that survives a restart (§4.1), so a resend after one is not
 * routed again either (but for a crash between the two writes: README, "QoS 2 from the client").
 */
import { Buffer } from 'node:buffer';
import type { IPubrelPacket } from 'mqtt-packet';
import type { CoreClient, CoreSession } from '../../core/api.js';
import type { MessageProperties, PublishOptions, PublishResult } from '../../core/types.js';
import { ErrorCode, isBrokerError } from '../../shared/errors.js';
import type { PublishIn } from './codec/wellformed.js';
import { type MqttLimits, Reason } from './limits.js';
import { inboundMarkerKey, pubrelAwaited } from './model.js';
import { toCore } from './properties.js';
import type { AwaitingPubrel, MqttServer } from './server.js';
import type { Connection } from './session.js';
import { topicExchange, topicToKey, validTopicName } from './topics.js';
import { ProtocolViolation } from './violation.js';

function resolveTopic(conn: Connection, packet: PublishIn): string {
  const alias = packet.properties?.topicAlias;
  if (alias === undefined) return packet.topic;
  if (alias === 0 || alias > conn.server.limits.topicAliasesMax) {
    throw new ProtocolViolation(Reason.topicAliasInvalid, `topic alias ${alias} out of range`);
  }
  if (packet.topic !== '') {
    conn.inboundAliases.set(alias, packet.topic);
    return packet.topic;
  }
  const topic = conn.inboundAliases.get(alias);
  if (topic === undefined) throw new ProtocolViolation(Reason.protocolError, `topic alias ${alias} not set`);
  return topic;
}

export function pendingQos2(conn: Connection): AwaitingPubrel {
  let ids = conn.server.incomingQos2.get(conn.clientId);
  if (ids === undefined) {
    ids = new Map();
    conn.server.incomingQos2.set(conn.clientId, ids);
  }
  return ids;
}

function failureReason(err: unknown): number {
  if (isBrokerError(err, ErrorCode.resourceExhausted)) return Reason.quotaExceeded;
  if (isBrokerError(err, ErrorCode.accessRefused)) return Reason.notAuthorized;
  return Reason.unspecified;
}

/**
 * Routes a client's message (a PUBLISH or its will) into `amq.topic`; a retained one also replaces
 * the topic's retained message [MQTT-3.3.1-5], [MQTT-3.1.2-17]. The publish goes first: it is where
 * the user's write permission on `amq.topic` and topic permission are checked, so a message the user
 * may not publish is not retained either.
 */
export function publishToTopic(
  server: MqttServer,
  core: CoreClient,
  topic: string,
  message: { readonly body: Buffer; readonly properties: MessageProperties; readonly retain: boolean },
  options?: PublishOptions,
): PublishResult {
  const result = core.publish(topicExchange, topicToKey(topic), message, options);
  if (!message.retain) return result;
  const { body, properties } = message;
  // A copy: the body may be a view into a larger buffer the codec filled.
  const stored = server.retained.set({ topic, body: Buffer.from(body), properties });
  stored.catch((err: unknown) => server.logger.warn({ err, topic }, 'mqtt retained message not stored'));
  // The PUBACK / PUBREC waits for the retained message too: answered before its own log's write,
  // a crash could leave an older retained message (or none) behind one the client was told is kept.
  const confirmed = Promise.all([result.confirmed, stored]).then(() => undefined);
  // Handled here (a will's result is dropped); whoever awaits `confirmed` still sees a failure.
  confirmed.catch(() => undefined);
  return { ...result, confirmed };
}

/**
 * A PUBLISH the user may not make. MQTT 5 says so with 0x87 on the PUBACK / PUBREC (a QoS 0 message
 * is dropped) and the connection stays; 3.1 and 3.1.1 cannot say it, so the connection is closed
 * rather than the message acknowledged as if taken (as RabbitMQ's MQTT plugin does).
 */
function refusedPublish(conn: Connection, err: unknown, topic: string): void {
  if (!isBrokerError(err, ErrorCode.accessRefused)) throw err;
  conn.server.logger.info({ connection: conn.id, topic, reason: err.message }, 'mqtt publish refused');
  if (conn.version !== 5) throw new ProtocolViolation(Reason.notAuthorized, err.message);
}

/** The publish options of a connection's messages, made once per connection. */
const publishOptionsOf = new WeakMap<Connection, PublishOptions>();

function publishOptions(conn: Connection): PublishOptions {
  let options = publishOptionsOf.get(conn);
  if (options === undefined) {
    options = { publisher: conn.id };
    publishOptionsOf.set(conn, options);
  }
  return options;
}

function route(conn: Connection, packet: PublishIn, topic: string): PublishResult {
  const { qos, retain } = packet;
  // Without v5 properties (every 3.1.1 PUBLISH) the core properties are these few; the clock is read
  // only for an expiry.
  const properties =
    packet.properties === undefined
      ? withRetain({ persistent: qos > 0, qos, publisherId: conn.clientId }, retain)
      : toCore(packet.properties, { qos, retain, publisher: conn.clientId, nowMs: Date.now() });
  return publishToTopic(
    conn.server,
    conn.core,
    topic,
    { body: packet.payload, properties, retain },
    publishOptions(conn),
  );
}

function withRetain(properties: MessageProperties, retain: boolean): MessageProperties {
  if (retain) properties.retain = true;
  return properties;
}

/**
 * The last topic name found valid, under which limits: the codec gives back one string for a topic
 * sent message after message (codec/wellformed.ts `topicText`), so it is checked once, not per message.
 */
let validated: { topic: string; limits: MqttLimits } | undefined;

function validTopic(topic: string, limits: MqttLimits): boolean {
  if (validated !== undefined && validated.topic === topic && validated.limits === limits) return true;
  if (!validTopicName(topic, limits)) return false;
  validated = { topic, limits };
  return true;
}

export function handlePublish(conn: Connection, packet: PublishIn): Promise<void> | undefined {
  conn.server.stats.received++;
  const topic = resolveTopic(conn, packet);
  if (!validTopic(topic, conn.server.limits))
    throw new ProtocolViolation(Reason.topicNameInvalid, 'invalid topic name');
  if (packet.qos === 0) {
    try {
      route(conn, packet, topic);
    } catch (err) {
      refusedPublish(conn, err, topic);
    }
    return undefined;
  }
  return publishAcknowledged(conn, packet, topic);
}

/** QoS 1/2: routed, then PUBACK / PUBREC once the core confirms; called again after waiting for room. */
function publishAcknowledged(conn: Connection, packet: PublishIn, topic: string): Promise<void> | undefined {
  // QoS 1 only reads the QoS 2 ids awaiting PUBREL (they count against the window); QoS 2 keeps them.
  const qos2 = packet.qos === 2 ? pendingQos2(conn) : conn.server.incomingQos2.get(conn.clientId);
  if (packet.qos === 2 && qos2!.has(packet.messageId!)) {
    pubrecAgain(conn, packet.messageId!, qos2!.get(packet.messageId!));
    return undefined;
  }
  if (conn.version !== 5 && conn.inboundPending >= conn.server.limits.receiveMax) {
    return inboundRoom(conn).then(() => publishAcknowledged(conn, packet, topic));
  }
  if (conn.version === 5 && unacknowledged(conn, qos2) >= conn.server.limits.receiveMax) {
    throw new ProtocolViolation(Reason.receiveMaxExceeded, 'receive maximum exceeded');
  }
  const cmd = packet.qos === 1 ? 'puback' : 'pubrec';
  const messageId = packet.messageId!;
  let result: PublishResult;
  try {
    result = route(conn, packet, topic);
  } catch (err) {
    if (isBrokerError(err, ErrorCode.accessRefused)) refusedPublish(conn, err, topic);
    conn.send({ cmd, messageId, reasonCode: failureReason(err) });
    return undefined;
  }
  conn.inboundPending++;
  if (packet.qos === 2) conn.inboundQos2Unanswered++;
  const noMatch = result.routedCount === 0 && conn.version === 5;
  const flags = (packet.qos === 2 ? qos2Flag : 0) | (noMatch ? noMatchFlag : 0);
  const run = awaitConfirm(conn, result.confirmed, messageId, flags);
  if (packet.qos === 2) qos2!.set(messageId, pubrecsOf(run, qos2!));
  return undefined;
}

/**
 * What a v5 client agreed to keep under our Receive Maximum in CONNACK [MQTT-3.3.4-7]: its QoS 1
 * publishes not yet PUBACKed and its QoS 2 ones not yet PUBCOMPed (every id awaiting PUBREL, each
 * counted once). 3.1 and 3.1.1 have no such limit: they are slowed by `inboundRoom` instead.
 */
function unacknowledged(conn: Connection, qos2: AwaitingPubrel | undefined): number {
  return conn.inboundPending - conn.inboundQos2Unanswered + (qos2?.size ?? 0);
}

/**
 * A resent PUBLISH of a QoS 2 message already routed [MQTT-4.3.3]: not routed again, and answered as
 * the first one is; while that answer still waits for storage, after it and alike.
 */
function pubrecAgain(conn: Connection, messageId: number, first: Promise<number> | undefined): void {
  if (first === undefined) {
    conn.send({ cmd: 'pubrec', messageId });
    return;
  }
  first.then((reasonCode) => conn.send({ cmd: 'pubrec', messageId, reasonCode }));
}

/** What an entry of a `ConfirmRun` was: a QoS 2 message (answered by PUBREC), routed nowhere (v5). */
const qos2Flag = 1;
const noMatchFlag = 2;

/**
 * Messages published one after another whose confirmation is one promise (every transient message
 * shares one; the messages of a group commit share theirs), answered by one reaction in arrival
 * order: a read of many publishes costs a reaction, not two closures and a promise per message.
 */
interface ConfirmRun {
  readonly confirmed: Promise<void>;
  readonly ids: number[];
  readonly flags: number[];
  /** Made with the run's first QoS 2 message: the client's ids awaiting PUBREL, and its PUBRECs. */
  qos2: Qos2Part | undefined;
  /** False once the reaction ran: later messages start a new run. */
  open: boolean;
}

interface Qos2Part {
  readonly awaiting: AwaitingPubrel;
  /** Resolves with the reason code the run's PUBRECs carried, once they are sent. */
  readonly pubrecs: Promise<number>;
  readonly sent: (reasonCode: number) => void;
}

/** Each connection's newest run, while it is open to more messages. */
const newestRun = new WeakMap<Connection, ConfirmRun>();

function awaitConfirm(
  conn: Connection,
  confirmed: Promise<void>,
  messageId: number,
  flags: number,
): ConfirmRun {
  const newest = newestRun.get(conn);
  if (newest?.open === true && newest.confirmed === confirmed) {
    newest.ids.push(messageId);
    newest.flags.push(flags);
    return newest;
  }
  const run: ConfirmRun = { confirmed, ids: [messageId], flags: [flags], qos2: undefined, open: true };
  newestRun.set(conn, run);
  // One reaction per run, settling the window in both outcomes.
  confirmed.then(
    () => settleRun(conn, run, undefined),
    (err: unknown) => settleRun(conn, run, failureReason(err)),
  );
  return run;
}

function pubrecsOf(run: ConfirmRun, awaiting: AwaitingPubrel): Promise<number> {
  if (run.qos2 === undefined) {
    let sent!: (reasonCode: number) => void;
    const pubrecs = new Promise<number>((resolve) => (sent = resolve));
    run.qos2 = { awaiting, pubrecs, sent };
  }
  return run.qos2.pubrecs;
}

/**
 * The run's messages are stored (or `failure`, a reason code, says why not). A durable session's
 * QoS 2 ids are stored next, all in one write of this turn's markers, and only then PUBRECed: a
 * PUBREC sent sooner could, after a crash, meet the client's resend with the id forgotten and route
 * the message again. The id is written after the message, never beside it: an id stored without its
 * message would take the resend for a duplicate and lose it.
 */
function settleRun(conn: Connection, run: ConfirmRun, failure: number | undefined): void {
  // A closed run stays the connection's newest until the next publish replaces it.
  run.open = false;
  const session = conn.session;
  const ahead = answersAhead.get(conn);
  if (failure !== undefined || run.qos2 === undefined || session?.durable !== true) {
    if (ahead === undefined) answerRun(conn, run, failure);
    else answerInTurn(conn, ahead, () => answerRun(conn, run, failure));
    return;
  }
  const stored = storeAwaiting(session, run, run.qos2.awaiting).then(
    () => undefined,
    (err: unknown) => {
      conn.server.logger.warn({ err, connection: conn.id }, 'mqtt QoS 2 packet ids not stored');
      return Reason.unspecified;
    },
  );
  const ready = Promise.all([ahead, stored]).then(([, reason]) => reason);
  answerInTurn(conn, ready, (reason) => answerRun(conn, run, reason));
}

/**
 * A connection's answers still waiting for a QoS 2 id's write. A later run's answers go after them,
 * never ahead: PUBACKs keep the order of their PUBLISHes, and PUBRECs theirs [MQTT-4.6.0-2, -3],
 * also when one run mixed QoS 1 and 2 and its PUBACKs wait with its PUBRECs.
 */
const answersAhead = new WeakMap<Connection, Promise<void>>();

function answerInTurn<T>(conn: Connection, ready: Promise<T>, answer: (value: T) => void): void {
  const answered = ready.then(answer).then(
    () => undefined,
    (err: unknown) => conn.server.logger.warn({ err, connection: conn.id }, 'mqtt acknowledgements not sent'),
  );
  answersAhead.set(conn, answered);
  answered.then(() => {
    if (answersAhead.get(conn) === answered) answersAhead.delete(conn);
  });
}

/** The run's QoS 2 ids still awaiting PUBREL, in the session's stored state. */
function storeAwaiting(session: CoreSession, run: ConfirmRun, awaiting: AwaitingPubrel): Promise<void> {
  let written: Promise<void> = Promise.resolve();
  try {
    for (let i = 0; i < run.ids.length; i++) {
      const messageId = run.ids[i]!;
      // An id already released (a PUBREL ahead of its PUBREC) is not stored: it would outlive it.
      if ((run.flags[i]! & qos2Flag) === 0 || !awaiting.has(messageId)) continue;
      // Every call of one turn returns the same write.
      written = session.setInflight(inboundMarkerKey(messageId), pubrelAwaited);
    }
  } catch (err) {
    return Promise.reject(err);
  }
  return written;
}

/** Answers every message of `run`: with `failure` (a reason code) when it was not stored. */
function answerRun(conn: Connection, run: ConfirmRun, failure: number | undefined): void {
  const qos2 = run.qos2;
  for (let i = 0; i < run.ids.length; i++) {
    const messageId = run.ids[i]!;
    const flags = run.flags[i]!;
    const cmd = (flags & qos2Flag) === 0 ? 'puback' : 'pubrec';
    if (cmd === 'pubrec' && qos2 !== undefined && qos2.awaiting.get(messageId) === qos2.pubrecs) {
      // A failed PUBREC ends the exchange (§4.3.3): the id is free again.
      if (failure !== undefined) qos2.awaiting.delete(messageId);
      else qos2.awaiting.set(messageId, undefined);
    }
    const reason = failure ?? ((flags & noMatchFlag) === 0 ? Reason.success : Reason.noMatchingSubscribers);
    acknowledged(conn, cmd, messageId, reason);
  }
  qos2?.sent(failure ?? Reason.success);
}

/** The PUBACK / PUBREC of a routed message; its slot of the inbound window frees. */
function acknowledged(
  conn: Connection,
  cmd: 'puback' | 'pubrec',
  messageId: number,
  reasonCode: number,
): void {
  try {
    conn.send({ cmd, messageId, reasonCode });
  } finally {
    conn.inboundPending--;
    if (cmd === 'pubrec') conn.inboundQos2Unanswered--;
    conn.inboundWaiters.shift()?.();
  }
}

/**
 * 3.1 and 3.1.1 have no Receive Maximum, so a client may send QoS 1/2 publishes faster than they are
 * stored. Past our window the connection stops reading its socket (TCP back-pressure) until a
 * confirmation frees a slot; later packets wait behind this one, so order is kept. QoS 2 ids awaiting
 * PUBREL do not count: the PUBREL that frees them could only arrive by reading.
 */
function inboundRoom(conn: Connection): Promise<void> {
  conn.holdReading('inbound', true);
  return new Promise<void>((resolve) => conn.inboundWaiters.push(resolve)).then(() =>
    conn.holdReading('inbound', false),
  );
}

/**
 * PUBREL: the id is released and PUBCOMP sent. A durable session stores the release first: the client
 * may reuse the id once it has the PUBCOMP [MQTT-2.2.1-3], and an id still stored as awaiting after a
 * crash would take that new message for a resend and drop it.
 */
export function handlePubrel(conn: Connection, packet: IPubrelPacket): undefined {
  const messageId = packet.messageId!;
  const known = conn.server.incomingQos2.get(conn.clientId)?.delete(messageId) === true;
  const session = conn.session;
  if (!known || session?.durable !== true) {
    conn.send({ cmd: 'pubcomp', messageId, reasonCode: known ? Reason.success : Reason.packetIdNotFound });
    return undefined;
  }
  const notStored = (err: unknown) => {
    conn.server.logger.warn({ err, connection: conn.id }, 'mqtt QoS 2 release not stored');
    conn.fail(Reason.unspecified, 'session state not stored');
  };
  try {
    session
      .deleteInflight(inboundMarkerKey(messageId))
      .then(() => conn.send({ cmd: 'pubcomp', messageId, reasonCode: Reason.success }), notStored);
  } catch (err) {
    notStored(err);
  }
  return undefined;
}
