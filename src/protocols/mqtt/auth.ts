/**
 * MQTT 5.0 enhanced authentication (§4.12, AUTH §3.15) with SCRAM-SHA-256 / SCRAM-SHA-512, the login
 * gate's SCRAM exchange (src/server/scram.ts) carrying its messages as Authentication Data:
 *
 *   CONNECT  method, client-first   →  AUTH 0x18 server-first
 *   AUTH 0x18 client-final          →  CONNACK 0x00 server-final   (or CONNACK 0x87 / 0x89, closed)
 *
 * Re-authentication [MQTT-4.12.1-1]: AUTH 0x19 with the same method starts the same exchange on a
 * connected client, answered by AUTH 0x18 and then AUTH 0x00 with server-final; other packets keep
 * flowing meanwhile. A failure, or another user, is DISCONNECT 0x87 [MQTT-4.12.1-2].
 *
 * Until its CONNACK a client may send AUTH or DISCONNECT only [MQTT-3.1.2-30]; the connection is still
 * unauthenticated then, so its bytes count in the ingress budget's unauthenticated share and the
 * CONNECT deadline (`connectTimeoutMs`) covers the whole exchange.
 */
import type { IAuthPacket, IConnectPacket } from 'mqtt-packet';
import { isScramMechanism } from '../../core/scram.js';
import type { LoginSuccess, SaslRefusal, SaslStep } from '../listener.js';
import { Reason } from './limits.js';
import type { Admission, Authentication, Connection, Inbound } from './session.js';
import { ProtocolViolation } from './violation.js';

/** AUTH reason codes (§3.15.2.1). */
const AuthReason = { success: 0x00, continue: 0x18, reauthenticate: 0x19 } as const;

const empty = new Uint8Array(0);

/** A finished SCRAM exchange as a login: the user and tags of its stored credentials. */
function loggedIn(step: Extract<SaslStep, { kind: 'done' }>): LoginSuccess {
  return { ok: true, user: step.user, tags: step.tags };
}

/** A refused exchange as a CONNACK or DISCONNECT reason: Server busy, otherwise Not authorized. */
function refusalOf(reason: SaslRefusal): number {
  return reason === 'busy' ? Reason.serverBusy : Reason.notAuthorized;
}

function sendAuth(conn: Connection, method: string, reasonCode: number, data: Uint8Array): void {
  const packet: IAuthPacket = {
    cmd: 'auth',
    reasonCode,
    properties: { authenticationMethod: method, authenticationData: Buffer.from(data) },
  };
  conn.send(packet);
}

/**
 * A CONNECT with an Authentication Method: its first step. The admission when the exchange ended
 * there (refused, mostly); undefined when an AUTH went out and the client's answer goes on
 * (`admit` is then called by `handleAuth`). A method not offered is 0x8C [MQTT-4.12.0-1]; with
 * `mqttAuthentication off` no method is offered.
 */
export async function beginAuthentication(
  conn: Connection,
  packet: IConnectPacket,
  admit: (admission: Admission) => Promise<void>,
): Promise<Admission | undefined> {
  const method = packet.properties?.authenticationMethod ?? '';
  if (!isScramMechanism(method) || conn.server.authentication === 'off')
    return { refusal: Reason.badAuthMethod };
  const exchange = conn.server.auth.scram(method, conn.transport.remoteAddress, conn.gone);
  const data = packet.properties?.authenticationData ?? empty;
  const step = await exchange.step(data);
  if (step.kind === 'refused') return { refusal: refusalOf(step.reason) };
  if (step.kind === 'done') return { login: loggedIn(step), method, data: step.message };
  conn.authentication = { method, user: undefined, exchange, admit };
  sendAuth(conn, method, AuthReason.continue, step.message);
  return undefined;
}

/** A packet while the CONNECT's exchange is under way: AUTH 0x18 goes on, DISCONNECT ends it. */
export async function handleAuthenticating(conn: Connection, packet: Inbound): Promise<void> {
  const authentication = conn.authentication;
  const admit = authentication?.admit;
  if (authentication === undefined || admit === undefined) return;
  if (packet.cmd === 'disconnect') {
    conn.close();
    return;
  }
  if (packet.cmd !== 'auth' || packet.reasonCode !== AuthReason.continue) {
    // [MQTT-3.1.2-30]: AUTH or DISCONNECT only until the CONNACK; [MQTT-4.12.0-3]: AUTH is 0x18 then.
    return admit({ refusal: Reason.protocolError });
  }
  if (packet.properties?.authenticationMethod !== authentication.method)
    return admit({ refusal: Reason.protocolError }); // [MQTT-4.12.0-5]
  const step = await stepOf(authentication, packet);
  authentication.admit = undefined;
  authentication.exchange = undefined;
  if (conn.state !== 'connecting') return;
  if (step.kind === 'refused') return admit({ refusal: refusalOf(step.reason) });
  if (step.kind === 'challenge') return admit({ refusal: Reason.notAuthorized }); // SCRAM has two steps
  authentication.user = step.user;
  return admit({ login: loggedIn(step), method: authentication.method, data: step.message });
}

function stepOf(authentication: Authentication, packet: IAuthPacket): Promise<SaslStep> {
  const exchange = authentication.exchange;
  if (exchange === undefined)
    throw new ProtocolViolation(Reason.protocolError, 'no authentication under way');
  return exchange.step(packet.properties?.authenticationData ?? empty);
}

/**
 * AUTH on a connected client: re-authentication [MQTT-4.12.1-1]. A client that did not authenticate
 * with a method never sends AUTH [MQTT-4.12.0-7]; one that did uses the same method, starts with
 * 0x19 and goes on with 0x18.
 */
export async function handleReauthentication(conn: Connection, packet: IAuthPacket): Promise<void> {
  const authentication = conn.authentication;
  if (authentication === undefined)
    throw new ProtocolViolation(Reason.protocolError, 'AUTH without an authentication method');
  if (packet.properties?.authenticationMethod !== authentication.method)
    throw new ProtocolViolation(Reason.protocolError, 'AUTH with another authentication method');
  const reason = packet.reasonCode ?? AuthReason.success;
  if (reason === AuthReason.reauthenticate) {
    if (authentication.exchange !== undefined)
      throw new ProtocolViolation(Reason.protocolError, 're-authentication already under way');
    authentication.exchange = conn.server.auth.scram(
      authentication.method,
      conn.transport.remoteAddress,
      conn.gone,
    );
  } else if (reason !== AuthReason.continue || authentication.exchange === undefined) {
    throw new ProtocolViolation(Reason.protocolError, `AUTH 0x${reason.toString(16)} out of turn`);
  }
  const step = await stepOf(authentication, packet);
  if (conn.state !== 'connected') return;
  if (step.kind === 'challenge') {
    sendAuth(conn, authentication.method, AuthReason.continue, step.message);
    return;
  }
  authentication.exchange = undefined;
  if (step.kind === 'refused')
    throw new ProtocolViolation(refusalOf(step.reason), 're-authentication refused'); // [MQTT-4.12.1-2]
  if (step.user !== authentication.user)
    throw new ProtocolViolation(Reason.notAuthorized, 're-authentication as another user');
  sendAuth(conn, authentication.method, AuthReason.success, step.message);
}
