/**
 * CONNECT (MQTT 5.0 §3.1, 3.1.1 §3.1): version and limit checks, credentials, client id assignment,
 * session takeover, the session itself (clean start, expiry, present flag), CONNACK, then resuming
 * the session's subscriptions and unfinished QoS 1/2 exchanges.
 */

import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import mqttPacket, { type IConnackPacket, type IConnectPacket } from 'mqtt-packet';
import type { CoreClient } from '../../core/api.js';
import type { Principal } from '../../core/entry/context.js';
import { ErrorCode, isBrokerError } from '../../shared/errors.js';
import { describeConnection } from '../described.js';
import { type LoginResult, principalOf } from '../listener.js';
import { certificateUser } from '../tls.js';
import { beginAuthentication } from './auth.js';
import type { ConnectFacts } from './codec/wellformed.js';
import { Reason, ReturnCode311 } from './limits.js';
import { resume } from './resume.js';
import type { Admission, Connection, Will } from './session.js';

/** The largest packet the protocol can express (§1.5.5, §2.1.4): no Maximum Packet Size to announce. */
const packetBytesProtocolMax = 1 + 4 + 268_435_455;

/** v5 reason → the closest 3.1.1 return code. */
function returnCode311(reason: number): number {
  if (reason === Reason.unsupportedProtocolVersion) return ReturnCode311.unacceptableVersion;
  if (reason === Reason.clientIdNotValid) return ReturnCode311.identifierRejected;
  if (reason === Reason.badCredentials) return ReturnCode311.badCredentials;
  if (reason === Reason.notAuthorized) return ReturnCode311.notAuthorized;
  // Server busy (a full login queue) and the rest: 3 Server unavailable, try again later.
  return ReturnCode311.serverUnavailable;
}

function refuse(conn: Connection, reason: number): void {
  const packet: IConnackPacket =
    conn.version === 5
      ? { cmd: 'connack', sessionPresent: false, reasonCode: reason }
      : { cmd: 'connack', sessionPresent: false, returnCode: returnCode311(reason) };
  conn.send(packet);
  conn.close();
}

/** The session expiry to agree on, in seconds; undefined = never (§3.1.2.11.2). */
function sessionExpiry(conn: Connection, packet: IConnectPacket): number | undefined {
  if (conn.version !== 5) return packet.clean === false ? undefined : 0;
  const asked = packet.properties?.sessionExpiryInterval ?? 0;
  if (asked === 0xffff_ffff) return undefined;
  return Math.min(asked, conn.server.limits.sessionExpirySecMax);
}

/** The will; its properties are the ones read in order from the bytes (./codec/wellformed.ts). */
function willOf(packet: IConnectPacket, facts: ConnectFacts | undefined): Will | undefined {
  const will = packet.will;
  if (will === undefined || will === null) return undefined;
  const { willDelayInterval, ...properties } = facts?.willProperties ?? {};
  return {
    topic: will.topic,
    payload: typeof will.payload === 'string' ? Buffer.from(will.payload) : will.payload,
    qos: will.qos ?? 0,
    retain: will.retain ?? false,
    delaySec: willDelayInterval ?? 0,
    properties,
  };
}

/**
 * Checks that can refuse before anything is created. Undefined: an enhanced authentication goes on
 * with AUTH packets, and `admit` follows once it ends (./auth.ts). A login decided at once (anonymous,
 * a certificate) is answered without a promise: most connects never wait for a hash.
 */
function admission(
  conn: Connection,
  packet: IConnectPacket,
  admit: (admission: Admission) => Promise<void>,
): Admission | undefined | Promise<Admission | undefined> {
  const { server } = conn;
  if (server.connections > server.limits.connectionsMax)
    return { refusal: conn.version === 5 ? Reason.quotaExceeded : Reason.serverBusy };
  if (conn.version === 5 && packet.properties?.authenticationMethod !== undefined)
    return beginAuthentication(conn, packet, admit);
  if (packet.clientId === '' && conn.version !== 5 && packet.clean === false)
    return { refusal: Reason.clientIdNotValid };
  // MQTT 3.1 §3.1 (protocol level 3) has no client id assignment: it must be 1 to 23 characters.
  if (packet.clientId === '' && conn.version === 3) return { refusal: Reason.clientIdNotValid };
  const result = login(conn, packet);
  return result instanceof Promise ? result.then(loginAdmission) : loginAdmission(result);
}

/**
 * `mqttAuthentication`: optional lets a CONNECT without a user name in as the anonymous user (from
 * loopback only unless `anonymousUser` names one); required refuses it; off takes every client as
 * the anonymous user, whatever credentials it sent.
 *
 * A password may be a JWT (the login gate takes it as a token). Over TLS with a verified client
 * certificate, `mqttCertLogin` takes the user name from the certificate (`username`), and lets the
 * certificate stand in for a missing password (`certificate`).
 */
function login(conn: Connection, packet: IConnectPacket): LoginResult | Promise<LoginResult> {
  const { server } = conn;
  const remote = conn.transport.remoteAddress;
  if (server.authentication === 'off') return server.auth.anonymous(remote);
  const cert = server.certLogin === 'off' ? undefined : conn.transport.tls?.peerCertificate;
  if (cert !== undefined) {
    const user = certificateUser(cert, server.certLoginFrom);
    if (packet.password === undefined && server.certLogin === 'certificate')
      return server.auth.loginWithCertificate(user, remote);
    if (user === undefined) return server.auth.loginWithCertificate(undefined, remote);
    return server.auth.login(user, packet.password?.toString('utf8') ?? '', remote, conn.gone);
  }
  if (packet.username === undefined) {
    if (server.authentication === 'required') return { ok: false, reason: 'anonymous' };
    return server.auth.anonymous(remote);
  }
  const password = packet.password?.toString('utf8') ?? '';
  return server.auth.login(packet.username, password, remote, conn.gone);
}

function loginAdmission(result: LoginResult): Admission {
  if (result.ok) return { login: result };
  if (result.reason === 'busy') return { refusal: Reason.serverBusy };
  return { refusal: result.reason === 'credentials' ? Reason.badCredentials : Reason.notAuthorized };
}

/**
 * The connection's way into core as the user: every PUBLISH and SUBSCRIBE is decided on it. The
 * front end's own client for the session's machinery (`conn.plumbing`) is made from it on first use.
 * One literal, not a spread of a shared part: each spread context had a hidden class of its own.
 */
function clientOf(conn: Connection, principal: Principal): CoreClient {
  const { server } = conn;
  return server.core.connect({
    principal,
    vhost: server.vhostName,
    connectionId: conn.id,
    protocol: 'mqtt',
    peerAddress: conn.transport.remoteAddress ?? '',
  });
}

/** RabbitMQ's refusal of a user without permissions in the vhost: Not authorized. */
function enterVhost(conn: Connection, core: CoreClient): number | undefined {
  try {
    core.checkVhostAccess();
    return undefined;
  } catch (err) {
    if (!isBrokerError(err, ErrorCode.accessRefused) && !isBrokerError(err, ErrorCode.notFound)) throw err;
    conn.server.logger.info({ connection: conn.id, reason: err.message }, 'mqtt connection refused');
    return Reason.notAuthorized;
  }
}

/**
 * Not itself async: a login decided at once goes straight on to `admitted`, whose promise is the
 * handler's (one async frame and promise fewer per connect); undefined when nothing is left to wait for.
 */
export function handleConnect(
  conn: Connection,
  packet: IConnectPacket,
  facts: ConnectFacts | undefined,
): Promise<void> | undefined {
  conn.state = 'connecting';
  const version = packet.protocolVersion ?? 4;
  conn.version = version === 3 || version === 5 ? version : 4;
  if (version !== 3 && version !== 4 && version !== 5) {
    refuse(conn, Reason.unsupportedProtocolVersion);
    return undefined;
  }
  const admit = (admittedAs: Admission) => admitted(conn, packet, facts, admittedAs);
  const now = admission(conn, packet, admit);
  if (now instanceof Promise)
    return now.then((admittedAs) => (admittedAs === undefined ? undefined : admit(admittedAs)));
  return now === undefined ? undefined : admit(now);
}

/** Goes on with a CONNECT once the client is known (or refused). */
async function admitted(
  conn: Connection,
  packet: IConnectPacket,
  facts: ConnectFacts | undefined,
  admittedAs: Admission,
): Promise<void> {
  if ('refusal' in admittedAs) return refuse(conn, admittedAs.refusal);
  if (conn.state !== 'connecting') return;
  const assigned = packet.clientId === '';
  const clientId = assigned ? `auto-${randomUUID()}` : packet.clientId;
  const core = clientOf(conn, principalOf(admittedAs.login, clientId));
  // Known from here on, to core's registry of connections too (`counted`).
  conn.clientId = clientId;
  const vhostRefusal = enterVhost(conn, core);
  if (vhostRefusal !== undefined) return refuse(conn, vhostRefusal);
  if (!counted(conn, core)) return;
  const expirySec = sessionExpiry(conn, packet);
  const connack = connackFor(conn, packet, { clientId, assigned, expirySec }, admittedAs);
  if (!fitsClient(conn, packet, connack)) {
    conn.close();
    return;
  }
  // CONNECTs for one client id run one at a time, so a takeover always finds the previous
  // connection fully set up (or fully gone) rather than halfway.
  const claim = conn.server.claimClientId(clientId);
  const release = claim instanceof Promise ? await claim : claim;
  try {
    await takeSession(conn, packet, {
      clientId,
      expirySec,
      connack,
      will: willOf(packet, facts),
      expiresAtMs: admittedAs.login.expiresAtMs,
      core,
    });
  } catch (err) {
    core.closeConnection();
    throw err;
  } finally {
    release();
  }
}

/**
 * Counts the connection against the vhost's and the user's max-connections; a limit reached refuses
 * the CONNECT before any takeover: 0x97 Quota exceeded (5), 3 Server unavailable (3.1.1).
 */
function counted(conn: Connection, core: CoreClient): boolean {
  try {
    // The connection is its own description's fields: its client id is set already (`admitted`).
    core.openConnection(describeConnection(conn.transport, conn));
    return true;
  } catch (err) {
    if (!isBrokerError(err, ErrorCode.resourceExhausted)) throw err;
    refuse(conn, Reason.quotaExceeded);
    return false;
  }
}

/**
 * [MQTT-3.1.2-24]: nothing larger than the client's Maximum Packet Size is sent, CONNACK included.
 * Ours carries no Reason String or User Properties that could be left out [MQTT-3.2.2-19], so a
 * CONNACK that does not fit means closing without one (the client asked for less than 5 bytes, say).
 */
function fitsClient(conn: Connection, packet: IConnectPacket, connack: IConnackPacket): boolean {
  const bytesMax = packet.properties?.maximumPacketSize;
  if (conn.version !== 5 || bytesMax === undefined) return true;
  return mqttPacket.generate(connack, { protocolVersion: 5 }).length <= bytesMax;
}

interface Agreed {
  readonly clientId: string;
  readonly expirySec: number | undefined;
  readonly connack: IConnackPacket;
  readonly will: Will | undefined;
  readonly core: CoreClient;
  /** When the login's token stops being good: the connection is closed then. */
  readonly expiresAtMs: number | undefined;
}

/** Takeover, then the session (clean start, expiry, present flag), CONNACK and resume. */
async function takeSession(conn: Connection, packet: IConnectPacket, agreed: Agreed): Promise<void> {
  if (conn.state !== 'connecting') return;
  const { server } = conn;
  const { clientId, expirySec, core } = agreed;
  const clean = packet.clean !== false;
  // [MQTT-3.1.4-3]: the connection holding the client id is closed first; its teardown (requeued
  // deliveries, session expiry, will) runs before this one touches the session.
  server.clients.get(clientId)?.takeOver();
  // A will still waiting goes out when the session ends now, and is dropped when it resumes (§3.1.3.2.2).
  server.endWill(clientId, clean);
  // A clean start reads nothing of the session before: it is replaced whatever it was.
  const before = clean ? undefined : core.session(clientId);
  // Resuming keeps the session's storage kind; only its expiry changes (0 then ends it at disconnect).
  const durable = before !== undefined ? before.durable : expirySec !== 0;
  const session = await core.openSession(clientId, {
    durable,
    clean,
    ...(expirySec === undefined ? {} : { expiryMs: expirySec * 1000 }),
  });
  const present = before !== undefined && before.incarnation === session.incarnation;
  if (conn.state !== 'connecting') {
    core.closeConnection();
    await session.disconnect();
    return;
  }
  // Two CONNECTs of one client id at once: the one that opened the session last keeps it and the
  // other is taken over, whichever finishes first ([MQTT-3.1.4-2] in 3.1.1, [MQTT-3.1.4-3] in 5.0).
  if (!session.current) {
    conn.takeOver();
    return;
  }
  server.clients.get(clientId)?.takeOver();
  Object.assign(conn, { clientId, session, sessionExpirySec: expirySec });
  conn.attachCore(core);
  conn.will = agreed.will;
  conn.state = 'connected';
  conn.expireAt(agreed.expiresAtMs);
  server.clients.set(clientId, conn);
  server.stats.connectionsTotal++;
  conn.loggedIn();
  sendConnack(conn, packet, { ...agreed.connack, sessionPresent: present });
  resume(conn, present);
}

/** The Keep Alive the server holds the client to: its own, or ours when ours is lower (§3.2.2.3.14). */
function keepAliveOf(conn: Connection, packet: IConnectPacket): { seconds: number; capped: boolean } {
  const { limits } = conn.server;
  const keepAlive = packet.keepalive ?? 0;
  const capped = limits.keepAliveSecMax > 0 && (keepAlive === 0 || keepAlive > limits.keepAliveSecMax);
  return { seconds: capped ? limits.keepAliveSecMax : keepAlive, capped };
}

/** The CONNACK to send (Session Present filled in once known). */
function connackFor(
  conn: Connection,
  packet: IConnectPacket,
  agreed: { clientId: string; assigned: boolean; expirySec: number | undefined },
  admittedAs: Admission,
): IConnackPacket {
  if (conn.version !== 5) return { cmd: 'connack', sessionPresent: false, returnCode: 0 };
  const { limits } = conn.server;
  const keepAlive = keepAliveOf(conn, packet);
  const asked = packet.properties?.sessionExpiryInterval ?? 0;
  const granted = agreed.expirySec ?? 0xffff_ffff;
  return {
    cmd: 'connack',
    sessionPresent: false,
    reasonCode: Reason.success,
    // Retain, wildcard, subscription identifier and shared subscription availability are left out:
    // absent means available (§3.2.2.3), and the shortest CONNACK is the one other suites expect.
    properties: {
      topicAliasMaximum: limits.topicAliasesMax,
      receiveMaximum: limits.receiveMax,
      ...(limits.packetBytesMax < packetBytesProtocolMax ? { maximumPacketSize: limits.packetBytesMax } : {}),
      ...(agreed.assigned ? { assignedClientIdentifier: agreed.clientId } : {}),
      ...(keepAlive.capped ? { serverKeepAlive: keepAlive.seconds } : {}),
      ...(granted !== asked ? { sessionExpiryInterval: granted } : {}),
      ...authenticationOf(admittedAs),
    },
  };
}

/** An enhanced authentication's method and last data, for the CONNACK [MQTT-4.12.0-5]. */
function authenticationOf(admittedAs: Admission): IConnackPacket['properties'] {
  if (!('method' in admittedAs) || admittedAs.method === undefined) return {};
  const data = admittedAs.data === undefined ? {} : { authenticationData: Buffer.from(admittedAs.data) };
  return { authenticationMethod: admittedAs.method, ...data };
}

function sendConnack(conn: Connection, packet: IConnectPacket, connack: IConnackPacket): void {
  const keepAlive = keepAliveOf(conn, packet);
  conn.startKeepAlive(conn.version === 5 ? keepAlive.seconds : (packet.keepalive ?? 0));
  if (conn.version !== 5) {
    // MQTT 3.1 has no Session Present flag: that CONNACK byte is reserved (0).
    conn.send({ ...connack, sessionPresent: conn.version === 4 && connack.sessionPresent });
    return;
  }
  const props = packet.properties ?? {};
  conn.clientReceiveMax = props.receiveMaximum ?? 65_535;
  conn.clientPacketBytesMax = props.maximumPacketSize ?? Number.POSITIVE_INFINITY;
  conn.clientAliasesMax = props.topicAliasMaximum ?? 0;
  conn.send(connack);
}
