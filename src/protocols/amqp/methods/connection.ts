/**
 * Connection class (10): start → start-ok (PLAIN, AMQPLAIN or EXTERNAL) → tune → tune-ok → open, then
 * close handshakes and update-secret. Order and limits follow spec 2.2.4 and RabbitMQ's tune defaults.
 *
 * Logins go through the broker's one gate: PLAIN and AMQPLAIN with a password, or with a JWT as the
 * password (any user name, as RabbitMQ's OAuth 2.0 backend); EXTERNAL with the user a verified client
 * certificate names (certLoginFrom), offered only on a TLS connection that presented one. A token
 * login's connection is closed when its token expires unless connection.update-secret brings a
 * refreshed token of the same user first.
 */

import type { Headers } from '../../../core/types.js';
import { ErrorCode, isBrokerError } from '../../../shared/errors.js';
import { describeConnection } from '../../described.js';
import { type LoginResult, principalOf } from '../../listener.js';
import { certificateUser } from '../../tls.js';
import {
  ByteReader,
  type FieldTable,
  frameMinBytes,
  type Method,
  plainFieldValue,
  ReplyCode,
  readTable,
} from '../codec/index.js';
import { connectionError, limitRefused } from '../errors.js';
import { type HandshakeConnection, tuneDefaults } from '../session.js';

/** The mechanisms to offer this connection: EXTERNAL only with a verified client certificate. */
function mechanismsFor(conn: HandshakeConnection): string[] {
  const verified = conn.transport.tls?.peerCertificate !== undefined;
  return conn.shared.mechanisms.filter((m) => m !== 'EXTERNAL' || verified);
}

/** The capabilities RabbitMQ advertises and clients check (pika refuses confirms without the first two). */
const serverCapabilities: FieldTable = {
  publisher_confirms: true,
  'basic.nack': true,
  exchange_exchange_bindings: true,
  consumer_cancel_notify: true,
  'connection.blocked': true,
  consumer_priorities: true,
  authentication_failure_close: true,
  per_consumer_qos: true,
  direct_reply_to: true,
};

export function sendStart(conn: HandshakeConnection): void {
  conn.offered = mechanismsFor(conn);
  const serverProperties: FieldTable = {
    product: 'Switchyard',
    version: conn.shared.version,
    platform: `Node.js ${process.version}`,
    copyright: 'Switchyard contributors',
    information: 'Licensed under the MIT licence',
    cluster_name: 'switchyard',
    capabilities: serverCapabilities,
  };
  conn.sendMethod(0, {
    name: 'connection.start',
    fields: {
      versionMajor: 0,
      versionMinor: 9,
      serverProperties,
      mechanisms: Buffer.from(conn.offered.join(' ')),
      locales: Buffer.from('en_US'),
    },
  });
}

export function handleConnectionMethod(conn: HandshakeConnection, method: Method): void {
  if (method.name === 'connection.close') {
    peerClose(conn);
    return;
  }
  if (method.name === 'connection.close-ok') {
    if (conn.state === 'closing') conn.finish();
    return;
  }
  if (conn.state === 'closing') return;
  switch (method.name) {
    case 'connection.start-ok':
      expectState(conn, 'start', method.name);
      startOk(conn, method.fields);
      return;
    case 'connection.tune-ok':
      expectState(conn, 'tune', method.name);
      tuneOk(conn, method.fields);
      return;
    case 'connection.open':
      expectState(conn, 'open', method.name);
      open(conn, method.fields.virtualHost);
      return;
    case 'connection.update-secret':
      expectState(conn, 'opened', method.name);
      updateSecret(conn, Buffer.from(method.fields.newSecret).toString('utf8'));
      return;
    default:
      throw connectionError(ReplyCode.commandInvalid, `unexpected method '${method.name}' on channel 0`);
  }
}

function expectState(conn: HandshakeConnection, state: HandshakeConnection['state'], name: string): void {
  if (conn.state !== state) throw connectionError(ReplyCode.commandInvalid, `'${name}' not expected now`);
}

function peerClose(conn: HandshakeConnection): void {
  conn.sendMethod(0, { name: 'connection.close-ok', fields: {} });
  conn.finish();
}

interface StartOk {
  clientProperties: FieldTable;
  mechanism: string;
  response: Uint8Array;
}

function startOk(conn: HandshakeConnection, fields: StartOk): void {
  conn.clientProperties = plainFieldValue(fields.clientProperties) as Record<string, unknown>;
  const caps = fields.clientProperties['capabilities'];
  if (caps !== null && typeof caps === 'object' && !Array.isArray(caps) && !(caps instanceof Uint8Array)) {
    for (const [key, value] of Object.entries(caps)) if (value === true) conn.clientCapabilities.add(key);
  }
  const login = loginOf(conn, fields.mechanism, fields.response);
  if (login === undefined) {
    throw connectionError(
      ReplyCode.accessRefused,
      `unsupported or malformed authentication mechanism '${fields.mechanism}'`,
    );
  }
  conn.pause();
  login.result.then(
    (result) => {
      if (conn.state !== 'start') return;
      if (!result.ok) {
        conn.log.debug({ user: login.user, reason: result.reason }, 'login refused');
        conn.closeWith(ReplyCode.accessRefused, refusal(result.reason, fields.mechanism));
        return;
      }
      conn.account.authenticate();
      conn.user = result.user;
      conn.tags = result.tags;
      conn.grant = result.grant;
      conn.expireAt(result.expiresAtMs);
      conn.state = 'tune';
      conn.sendMethod(0, {
        name: 'connection.tune',
        fields: {
          channelMax: tuneDefaults.channelMax,
          frameMax: tuneDefaults.frameMax,
          heartbeat: tuneDefaults.heartbeatS,
        },
      });
      conn.resume();
    },
    (err: unknown) => conn.fail(err, 10, 11),
  );
}

/** The login a start-ok asks for; undefined when its mechanism was not offered or its response is malformed. */
function loginOf(
  conn: HandshakeConnection,
  mechanism: string,
  response: Uint8Array,
): { user: string; result: Promise<LoginResult> } | undefined {
  if (!conn.offered.includes(mechanism)) return undefined;
  const remote = conn.transport.remoteAddress;
  if (mechanism === 'EXTERNAL') {
    // RFC 4422 EXTERNAL: the identity is the one the TLS layer established; the response is ignored.
    const cert = conn.transport.tls?.peerCertificate;
    const user = cert === undefined ? undefined : certificateUser(cert, conn.shared.certLogin);
    const result = conn.shared.auth.loginWithCertificate(user, remote);
    return { user: user ?? '', result: Promise.resolve(result) };
  }
  const credentials = readCredentials(mechanism, response);
  if (credentials === undefined) return undefined;
  return {
    user: credentials.user,
    result: conn.shared.auth.login(credentials.user, credentials.password, remote, conn.gone),
  };
}

/**
 * RabbitMQ's connection.update-secret: a token login takes a refreshed token of the same user (its
 * scopes and expiry apply from the next command on); a token that is refused, or names another user,
 * closes the connection with 530. Other logins have no secret to renew: answered and unchanged.
 */
function updateSecret(conn: HandshakeConnection, secret: string): void {
  const grant = conn.grant;
  if (grant === undefined) {
    conn.sendMethod(0, { name: 'connection.update-secret-ok', fields: {} });
    return;
  }
  conn.pause();
  conn.shared.auth.loginWithToken(secret, conn.transport.remoteAddress, conn.gone).then(
    (result) => {
      if (conn.state !== 'opened') return;
      if (!result.ok || result.grant === undefined || result.user !== conn.user) {
        const why = result.ok
          ? 'Not allowed to change username on refreshed token'
          : 'New secret was refused by one of the backends';
        conn.closeWith(ReplyCode.notAllowed, `NOT_ALLOWED - ${why}`);
        // Read on for the close-ok; the frames behind the update are ignored while closing.
        conn.resume();
        return;
      }
      grant.renew(result.grant);
      conn.tags = result.tags;
      conn.expireAt(result.expiresAtMs);
      conn.sendMethod(0, { name: 'connection.update-secret-ok', fields: {} });
      conn.resume();
    },
    (err: unknown) => conn.fail(err, 10, 70),
  );
}

function refusal(reason: 'credentials' | 'loopback_only' | 'busy' | 'anonymous', mechanism: string): string {
  if (reason === 'busy') return 'ACCESS_REFUSED - Too many login attempts; try again later';
  return `ACCESS_REFUSED - Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`;
}

/** PLAIN is `\0user\0password` (RFC 4616); AMQPLAIN a field table without its length prefix. */
function readCredentials(
  mechanism: string,
  response: Uint8Array,
): { user: string; password: string } | undefined {
  if (mechanism === 'PLAIN') {
    const parts = Buffer.from(response).toString('utf8').split('\0');
    if (parts.length !== 3) return undefined;
    return { user: parts[1]!, password: parts[2]! };
  }
  if (mechanism === 'AMQPLAIN') {
    const framed = Buffer.alloc(4 + response.byteLength);
    framed.writeUInt32BE(response.byteLength, 0);
    framed.set(response, 4);
    try {
      const table = readTable(new ByteReader(framed));
      const user = table['LOGIN'];
      const password = table['PASSWORD'];
      if (typeof user !== 'string' || typeof password !== 'string') return undefined;
      return { user, password };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function tuneOk(
  conn: HandshakeConnection,
  fields: { channelMax: number; frameMax: number; heartbeat: number },
): void {
  const frameMax = fields.frameMax === 0 ? tuneDefaults.frameMax : fields.frameMax;
  if (frameMax < frameMinBytes || frameMax > tuneDefaults.frameMax) {
    throw connectionError(
      ReplyCode.notAllowed,
      `frame_max ${fields.frameMax} outside ${frameMinBytes}..${tuneDefaults.frameMax}`,
    );
  }
  if (fields.channelMax > tuneDefaults.channelMax) {
    throw connectionError(
      ReplyCode.notAllowed,
      `channel_max ${fields.channelMax} above ${tuneDefaults.channelMax}`,
    );
  }
  conn.frameBytesMax = frameMax;
  conn.channelMax = fields.channelMax === 0 ? tuneDefaults.channelMax : fields.channelMax;
  conn.heartbeatS = fields.heartbeat;
  conn.state = 'open';
}

/** What operators see of this connection (`/api/connections`, `/api/channels`). */
function amqpDescription(conn: HandshakeConnection) {
  return describeConnection(conn.transport, {
    protocol: 'AMQP 0-9-1',
    clientProperties: conn.clientProperties as Headers,
    channels: () => conn.describeChannels(),
    // An operator's close is RabbitMQ's: connection.close 320 CONNECTION_FORCED with the given reason.
    close: (reason) => conn.closeWith(ReplyCode.connectionForced, `CONNECTION_FORCED - ${reason}`),
  });
}

/** RabbitMQ's order: a vhost that does not exist, then one the user has no permissions in (530 both). */
function open(conn: HandshakeConnection, vhostName: string): void {
  const login = {
    ok: true,
    user: conn.user,
    tags: conn.tags,
    ...(conn.grant ? { grant: conn.grant } : {}),
  } as const;
  const core = conn.shared.core.connect({
    principal: principalOf(login),
    vhost: vhostName,
    connectionId: conn.id,
    protocol: 'amqp',
    peerAddress: conn.transport.remoteAddress ?? '',
  });
  if (!core.vhostNames().includes(vhostName)) {
    throw connectionError(ReplyCode.notAllowed, `vhost ${vhostName} not found`);
  }
  try {
    core.checkVhostAccess();
  } catch (err) {
    if (!isBrokerError(err, ErrorCode.accessRefused)) throw err;
    conn.log.info({ user: conn.user, vhost: vhostName }, 'vhost access refused');
    throw connectionError(ReplyCode.notAllowed, err.message);
  }
  // Counted against the vhost's and the user's max-connections from here to connection.close.
  limitRefused(() => core.openConnection(amqpDescription(conn)));
  conn.core = core;
  conn.sendMethod(0, { name: 'connection.open-ok', fields: { knownHosts: '' } });
  conn.opened();
}
