import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/parse.js';
import { Broker } from '../../../src/index.js';
import { mqttListeners } from '../../../src/protocols/mqtt/listener.js';
import { silentLogger } from '../../../src/shared/logger.js';
import { closeAll, connack, connect, mqttTcpOnlyFlags } from '../../../testing/mqtt-harness.js';
import { startCli } from '../../../testing/server-cli.js';
import { allPortsOff } from '../../../testing/server-helpers.js';

/** SUBACK codes per filter; mqtt.js rejects a v5 SUBACK holding a failure code, with the packet attached. */
async function subackCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet;
    if (packet?.granted === undefined) throw err;
    return packet.granted;
  }
}

describe('MQTT settings', () => {
  test('switchyard start --mqtt-keep-alive-seconds-max and --mqtt-denied-filters change what clients get', async () => {
    const args = ['--storage', 'memory', ...mqttTcpOnlyFlags];
    const limited = await startCli([
      ...args,
      '--mqtt-keep-alive-seconds-max',
      '60',
      '--mqtt-denied-filters',
      'test/nosubscribe,secret/#',
    ]);
    try {
      const client = await connect(`mqtt://127.0.0.1:${limited.ports.mqtt}`, {
        protocolVersion: 5,
        keepalive: 300,
      });
      assert.equal(connack(client).properties?.serverKeepAlive, 60);
      assert.deepEqual(await subackCodes(client, ['test/nosubscribe', 'test/ok']), [0x80, 1]);
      await closeAll(client);
    } finally {
      await limited.stop();
    }
    const plain = await startCli(args);
    try {
      const client = await connect(`mqtt://127.0.0.1:${plain.ports.mqtt}`, {
        protocolVersion: 5,
        keepalive: 300,
      });
      assert.equal(connack(client).properties?.serverKeepAlive, undefined);
      assert.deepEqual(await subackCodes(client, ['test/nosubscribe']), [1]);
      await closeAll(client);
    } finally {
      await plain.stop();
    }
  });

  test('embedding: Broker.start settings apply, and limits passed to mqttListeners() win over them', async () => {
    const fromConfig = await Broker.start({
      storage: 'memory',
      ...allPortsOff,
      mqttPort: 'auto',
      logger: silentLogger(),
      mqttTopicLevelsMax: 3,
      mqttPacketBytesMax: 4096,
    });
    const fromCode = await Broker.start({
      storage: 'memory',
      ...allPortsOff,
      mqttPort: 'auto',
      logger: silentLogger(),
      mqttTopicLevelsMax: 3,
      listeners: mqttListeners({ limits: { topicLevelsMax: 8 } }),
    });
    try {
      const a = await connect(`mqtt://127.0.0.1:${fromConfig.ports.mqttPort}`, { protocolVersion: 5 });
      assert.equal(connack(a).properties?.maximumPacketSize, 4096);
      assert.deepEqual(await subackCodes(a, ['a/b/c/d', 'a/b/c']), [0x8f, 1]);
      const b = await connect(`mqtt://127.0.0.1:${fromCode.ports.mqttPort}`, { protocolVersion: 5 });
      assert.deepEqual(await subackCodes(b, ['a/b/c/d']), [1]);
      await closeAll(a, b);
    } finally {
      await Promise.all([fromConfig.stop(), fromCode.stop()]);
    }
  });

  test('boolean settings: text is exactly true or false, files need real booleans', () => {
    const load = (args: string[]) => loadConfig({ args, env: {}, cwd: process.cwd() });
    assert.equal(load([]).kafkaAutoCreateTopics, true);
    assert.equal(load(['--kafka-auto-create-topics', 'false']).kafkaAutoCreateTopics, false);
    assert.equal(load(['--kafka-default-partitions', '6']).kafkaDefaultPartitions, 6);
    assert.throws(() => load(['--kafka-auto-create-topics', 'no']), ConfigError);
    const fromEnv = loadConfig({ args: [], env: { SWITCHYARD_KAFKA_AUTO_CREATE_TOPICS: 'false' }, cwd: '.' });
    assert.equal(fromEnv.kafkaAutoCreateTopics, false);
  });

  test('mqttAuthentication: optional, required and off decide who may connect', async () => {
    const start = (mqttAuthentication: 'optional' | 'required' | 'off') =>
      Broker.start({
        storage: 'memory',
        ...allPortsOff,
        mqttPort: 'auto',
        logger: silentLogger(),
        mqttAuthentication,
      });
    const refusal = async (port: number | undefined, options: { username?: string; password?: string }) => {
      try {
        await closeAll(await connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, ...options }));
        return 0;
      } catch (err) {
        return (err as { code?: number }).code ?? -1;
      }
    };
    const brokers = await Promise.all([start('optional'), start('required'), start('off')]);
    try {
      const [optional, required, off] = brokers.map((b) => b.ports.mqttPort);
      const stranger = { username: 'nobody', password: 'wrong' };
      assert.equal(await refusal(optional, {}), 0, 'optional: anonymous allowed');
      assert.equal(await refusal(optional, stranger), 0x86, 'optional: a user name must log in');
      assert.equal(await refusal(required, {}), 0x87, 'required: anonymous refused');
      assert.equal(
        await refusal(required, { username: 'guest', password: 'guest' }),
        0,
        'required: guest logs in',
      );
      assert.equal(await refusal(off, stranger), 0, 'off: credentials not checked');
    } finally {
      await Promise.all(brokers.map((b) => b.stop()));
    }
  });
});
