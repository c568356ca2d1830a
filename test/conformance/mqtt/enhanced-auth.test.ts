/**
 * MQTT 5 enhanced authentication (§4.12) with SCRAM-SHA-256 and SCRAM-SHA-512, driven by mqtt.js's
 * AUTH handling (`handleAuth`) with the client side computed here: the full exchange, its CONNACK
 * carrying server-final, a wrong password (CONNACK 0x87), an unknown method (0x8C),
 * re-authentication [MQTT-4.12.1-1], and as raw packets what a client may not do meanwhile
 * [MQTT-3.1.2-30], [MQTT-4.12.0-3], [MQTT-4.12.0-7], [MQTT-3.15.2-1].
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type IConnackPacket, type MqttClient, type Packet } from 'mqtt';
import type { IAuthPacket } from 'mqtt-packet';
import { scramCredentialsOf } from '../../../src/core/scram.js';
import {
  closeAll,
  disconnectReason,
  type MqttTestBroker,
  rawClient,
  startMqttBroker,
} from '../../../testing/mqtt-harness.js';
import { ScramClient, type ScramHash } from '../../../testing/scram-client.js';

let sy: MqttTestBroker;

before(async () => {
  sy = await startMqttBroker();
  const core = sy.broker.client('/');
  await core.putUser('alice', 'alice-pw', []);
  await core.putUser('bob', 'bob-pw', []);
  for (const user of ['alice', 'bob'])
    await core.setPermission('/', user, { configure: '.*', write: '.*', read: '.*' });
});

after(() => sy.stop());

const hashOf = (method: string): ScramHash => (method === 'SCRAM-SHA-512' ? 'sha512' : 'sha256');

/** The client's AUTH answering the server's: client-final for server-first. */
function answer(scram: ScramClient, method: string, packet: IAuthPacket, password?: string): IAuthPacket {
  const serverFirst = packet.properties?.authenticationData?.toString() ?? '';
  const data = Buffer.from(scram.final(serverFirst, password));
  return {
    cmd: 'auth',
    reasonCode: 0x18,
    properties: { authenticationMethod: method, authenticationData: data },
  };
}

/** mqtt.js's `handleAuth`: client-final for AUTH 0x18; nothing to answer to AUTH 0x00. */
function handlerOf(scram: ScramClient, method: string, password?: string): MqttClient['handleAuth'] {
  return (packet, callback) =>
    packet.reasonCode === 0x18 ? callback(undefined, answer(scram, method, packet, password)) : callback();
}

/** Connects with `method`; resolves with the CONNACK, or the CONNACK's refusal code. */
function scramConnect(
  method: string,
  user: string,
  password: string,
  options: { wrongPassword?: string } = {},
): { client: MqttClient; scram: ScramClient; connack: Promise<IConnackPacket> } {
  const scram = new ScramClient(hashOf(method), user, password);
  const client = mqtt.connect(sy.url, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 3000,
    properties: { authenticationMethod: method, authenticationData: Buffer.from(scram.first()) },
  });
  client.handleAuth = handlerOf(scram, method, options.wrongPassword);
  const connack = new Promise<IConnackPacket>((resolve, reject) => {
    client.once('packetreceive', function onPacket(packet: Packet) {
      if (packet.cmd === 'connack') resolve(packet);
      else client.once('packetreceive', onPacket);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
  client.on('error', () => {});
  return { client, scram, connack };
}

for (const method of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
  test(`${method}: CONNECT → AUTH 0x18 → AUTH 0x18 → CONNACK 0x00 with server-final, and messages flow`, async () => {
    const { client, scram, connack } = scramConnect(method, 'alice', 'alice-pw');
    try {
      const packet = await connack;
      assert.equal(packet.reasonCode, 0);
      assert.equal(packet.properties?.authenticationMethod, method, '[MQTT-4.12.0-5]');
      assert.equal(packet.properties?.authenticationData?.toString(), scram.expectedServerFinal);
      await client.subscribeAsync('scram/topic', { qos: 1 });
      const got = new Promise<string>((resolve) =>
        client.once('message', (_t, payload) => resolve(String(payload))),
      );
      await client.publishAsync('scram/topic', 'hello', { qos: 1 });
      assert.equal(await got, 'hello');
    } finally {
      await closeAll(client);
    }
  });
}

test("a user with SCRAM credentials only (as Kafka's AlterUserScramCredentials makes one) logs in", async () => {
  const core = sy.broker.client('/');
  const made = await scramCredentialsOf('kafka-pw');
  await core.setScramCredential('kafka-made', 'SCRAM-SHA-512', made['SCRAM-SHA-512']!);
  await core.setPermission('/', 'kafka-made', { configure: '', write: '.*', read: '.*' });
  const { client, connack } = scramConnect('SCRAM-SHA-512', 'kafka-made', 'kafka-pw');
  try {
    assert.equal((await connack).reasonCode, 0);
  } finally {
    await closeAll(client);
  }
});

/** The CONNACK's reason code for a CONNECT with `method` as `user`, answering with `password`. */
async function refusedWith(method: string, user: string, password: string): Promise<number | undefined> {
  const { client, connack } = scramConnect(method, user, 'alice-pw', { wrongPassword: password });
  try {
    return (await connack).reasonCode;
  } finally {
    await closeAll(client);
  }
}

test('a wrong password or an unknown user is refused with CONNACK 0x87 and the connection closed', async () => {
  assert.equal(await refusedWith('SCRAM-SHA-256', 'alice', 'nope'), 0x87);
  assert.equal(await refusedWith('SCRAM-SHA-512', 'alice', 'nope'), 0x87);
  // An unknown user gets a made-up salt and fails at the proof, like a wrong password.
  assert.equal(await refusedWith('SCRAM-SHA-256', 'nobody-here', 'x'), 0x87);
});

test('an Authentication Method not offered is refused with CONNACK 0x8C [MQTT-4.12.0-1]', async () => {
  assert.equal(await refusedWith('SCRAM-SHA-1', 'alice', 'alice-pw'), 0x8c);
  assert.equal(await refusedWith('PLAIN', 'alice', 'alice-pw'), 0x8c);
});

/** Sends `packet` through mqtt.js's own writer (it has no call of its own to start re-authentication). */
const sendPacket = (client: MqttClient, packet: Packet) =>
  (client as unknown as { _sendPacket(p: Packet): void })._sendPacket(packet);

function nextAuth(client: MqttClient): Promise<IAuthPacket> {
  return new Promise((resolve) => {
    client.on('packetreceive', function onPacket(packet: Packet) {
      if (packet.cmd !== 'auth' || packet.reasonCode !== 0) return;
      client.off('packetreceive', onPacket);
      resolve(packet);
    });
  });
}

describe('re-authentication (AUTH 0x19) [MQTT-4.12.1-1]', () => {
  test('the same user again: AUTH 0x18, then AUTH 0x00 with server-final; the connection stays', async () => {
    const { client, connack } = scramConnect('SCRAM-SHA-512', 'alice', 'alice-pw');
    try {
      await connack;
      for (let round = 0; round < 2; round++) {
        const again = new ScramClient('sha512', 'alice', 'alice-pw');
        client.handleAuth = handlerOf(again, 'SCRAM-SHA-512');
        const done = nextAuth(client);
        const data = Buffer.from(again.first());
        sendPacket(client, {
          cmd: 'auth',
          reasonCode: 0x19,
          properties: { authenticationMethod: 'SCRAM-SHA-512', authenticationData: data },
        });
        const success = await done;
        assert.equal(success.properties?.authenticationData?.toString(), again.expectedServerFinal);
      }
      await client.publishAsync('scram/after', 'still here', { qos: 1 });
    } finally {
      await closeAll(client);
    }
  });

  test('another user, a wrong password or another method ends the connection with DISCONNECT', async () => {
    const cases: Array<[string, string, string, string | undefined, number]> = [
      ['another user', 'SCRAM-SHA-256', 'bob', undefined, 0x87],
      ['a wrong password', 'SCRAM-SHA-256', 'alice', 'nope', 0x87],
      ['another method', 'SCRAM-SHA-512', 'alice', undefined, 0x82],
    ];
    for (const [what, method, user, wrong, reason] of cases) {
      const { client, connack } = scramConnect('SCRAM-SHA-256', 'alice', 'alice-pw');
      try {
        await connack;
        const again = new ScramClient(hashOf(method), user, user === 'bob' ? 'bob-pw' : 'alice-pw');
        client.handleAuth = handlerOf(again, method, wrong);
        const disconnected = new Promise<number | undefined>((resolve) =>
          client.on('disconnect', (packet) => resolve(packet.reasonCode)),
        );
        const data = Buffer.from(again.first());
        sendPacket(client, {
          cmd: 'auth',
          reasonCode: 0x19,
          properties: { authenticationMethod: method, authenticationData: data },
        });
        assert.equal(await disconnected, reason, what);
      } finally {
        await closeAll(client);
      }
    }
  });
});

describe('raw packets during an enhanced authentication', () => {
  const method = 'SCRAM-SHA-256';
  async function authenticating() {
    const raw = await rawClient(sy.port, 5);
    const scram = new ScramClient('sha256', 'alice', 'alice-pw');
    const properties = { authenticationMethod: method, authenticationData: Buffer.from(scram.first()) };
    raw.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clientId: 'raw-auth',
      clean: true,
      keepalive: 30,
      properties,
    });
    const challenge = (await raw.expect((p) => p.cmd === 'auth')) as IAuthPacket;
    assert.equal(challenge.reasonCode, 0x18, '[MQTT-4.12.0-2]');
    return { raw, scram, challenge };
  }

  test('a PUBLISH before the CONNACK is a protocol error: CONNACK 0x82, closed [MQTT-3.1.2-30]', async () => {
    const { raw } = await authenticating();
    raw.send({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    await raw.closed;
    const connack = raw.packets.find((p) => p.cmd === 'connack') as IConnackPacket | undefined;
    assert.equal(connack?.reasonCode, 0x82);
  });

  test('AUTH 0x19 instead of 0x18 before the CONNACK: CONNACK 0x82 [MQTT-4.12.0-3]', async () => {
    const { raw, scram, challenge } = await authenticating();
    const data = Buffer.from(scram.final(challenge.properties?.authenticationData?.toString() ?? ''));
    raw.send({
      cmd: 'auth',
      reasonCode: 0x19,
      properties: { authenticationMethod: method, authenticationData: data },
    });
    await raw.closed;
    const connack = raw.packets.find((p) => p.cmd === 'connack') as IConnackPacket | undefined;
    assert.equal(connack?.reasonCode, 0x82);
  });

  test('AUTH with a reason code AUTH cannot carry closes the connection [MQTT-3.15.2-1]', async () => {
    const { raw } = await authenticating();
    raw.write(Buffer.from([0xf0, 0x02, 0x87, 0x00]));
    await raw.closed;
    assert.equal(
      raw.packets.find((p) => p.cmd === 'connack'),
      undefined,
    );
  });

  test('DISCONNECT ends the exchange quietly', async () => {
    const { raw } = await authenticating();
    raw.send({ cmd: 'disconnect', reasonCode: 0 });
    await raw.closed;
    assert.equal(
      raw.packets.find((p) => p.cmd === 'connack'),
      undefined,
    );
  });

  test('AUTH on a connection made without a method is a protocol error: DISCONNECT 0x82 [MQTT-4.12.0-7]', async () => {
    const raw = await rawClient(sy.port, 5);
    await raw.connect('raw-no-method', { username: 'alice', password: Buffer.from('alice-pw') });
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: method } });
    await raw.closed;
    assert.equal(disconnectReason(raw.packets), 0x82);
  });
});
