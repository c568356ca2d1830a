import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig, resolveConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/parse.js';
import { configDefault, envName, flagName, settings } from '../../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-config-'));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function load(args: string[] = [], env: Record<string, string> = {}) {
  return loadConfig({ args, env, cwd: dir });
}

function loadError(args: string[] = [], env: Record<string, string> = {}): string {
  try {
    load(args, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.message.includes('\n'), false, 'error is one line');
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

describe('config schema', () => {
  test('names flags and variables from the setting name', () => {
    assert.equal(flagName('amqpPort'), '--amqp-port');
    assert.equal(flagName('mqttWsPort'), '--mqtt-ws-port');
    assert.equal(envName('mqttWsPort'), 'SWITCHYARD_MQTT_WS_PORT');
    assert.equal(envName('dataDir'), 'SWITCHYARD_DATA_DIR');
  });

  test('defaults are the documented external contract', () => {
    const config = load();
    assert.equal(config.host, '127.0.0.1');
    assert.deepEqual(
      [config.amqpPort, config.mqttPort, config.mqttWsPort, config.kafkaPort],
      [5672, 1883, 8083, 9092],
    );
    assert.deepEqual([config.grpcPort, config.restPort, config.httpPort], [50000, 9090, 15672]);
    assert.equal(config.dataDir, './switchyard-data');
    assert.equal(config.storage, 'file');
    assert.equal(config.fsync, 'always');
    assert.deepEqual(config.loopbackOnlyUsers, ['guest']);
    assert.deepEqual([config.defaultUser, config.defaultPass], ['guest', 'guest']);
  });

  test('every default passes its own validation', () => {
    assert.deepEqual(resolveConfig({ ...configDefault }), configDefault);
    assert.equal(settings.length, Object.keys(configDefault).length);
  });
});

describe('config precedence: defaults < file < env < flags', () => {
  const yaml = file('layers.yaml', 'amqpPort: 1001\nmqttPort: 1002\nkafkaPort: 1003\nlogLevel: warn\n');
  const env = { SWITCHYARD_CONFIG: yaml, SWITCHYARD_MQTT_PORT: '2002', SWITCHYARD_KAFKA_PORT: '2003' };

  test('each layer overrides the ones below it, setting by setting', () => {
    const config = load(['--kafka-port', '3003'], env);
    assert.equal(config.httpPort, 15672, 'default kept');
    assert.equal(config.amqpPort, 1001, 'file over default');
    assert.equal(config.logLevel, 'warn', 'file over default');
    assert.equal(config.mqttPort, 2002, 'env over file');
    assert.equal(config.kafkaPort, 3003, 'flag over env');
  });

  test('--config beats SWITCHYARD_CONFIG, relative to the working directory', () => {
    file('other.json', '{"amqpPort": 4001}');
    assert.equal(load(['--config', 'other.json'], env).amqpPort, 4001);
    assert.equal(load(['--config=other.json']).amqpPort, 4001);
  });

  test('flags take --name value and --name=value, lists are comma separated', () => {
    const config = load(['--host=0.0.0.0', '--loopback-only-users', 'guest, admin', '--http-port', 'auto']);
    assert.equal(config.host, '0.0.0.0');
    assert.deepEqual(config.loopbackOnlyUsers, ['guest', 'admin']);
    assert.equal(config.httpPort, 'auto');
  });

  test('sync moments stay on unless a flag or variable turns them off', () => {
    assert.equal(load().storageSyncMoments, true);
    assert.equal(load(['--storage-sync-moments', 'false']).storageSyncMoments, false);
    assert.equal(load([], { SWITCHYARD_STORAGE_SYNC_MOMENTS: 'false' }).storageSyncMoments, false);
  });

  test('an empty environment variable counts as unset', () => {
    assert.equal(load([], { SWITCHYARD_AMQP_PORT: '' }).amqpPort, 5672);
  });
});

describe('config validation', () => {
  test('out of range and ill-typed values name their source', () => {
    assert.match(
      loadError(['--amqp-port', '70000']),
      /--amqp-port must be a port from 0 to 65535.*got "70000"/,
    );
    assert.match(loadError(['--amqp-port', '12ab']), /--amqp-port must be/);
    assert.match(
      loadError([], { SWITCHYARD_FSYNC: 'sometimes' }),
      /SWITCHYARD_FSYNC must be one of always, interval, never/,
    );
    assert.match(
      loadError(['--fsync-interval-ms', '0']),
      /--fsync-interval-ms must be an integer from 1 to 60000/,
    );
    assert.match(loadError(['--storage', 'disk']), /--storage must be one of file, memory/);
  });

  test('unknown flags, variables and keys are refused with a hint', () => {
    assert.match(loadError(['--amqp-prot', '1']), /^Unknown flag --amqp-prot$/);
    assert.match(loadError(['--amqpport', '1']), /Unknown flag --amqpport \(did you mean --amqp-port\?\)/);
    assert.match(loadError([], { SWITCHYARD_AMQPPORT: '1' }), /did you mean SWITCHYARD_AMQP_PORT/);
    const path = file('typo.yaml', 'amqp-port: 5673\n');
    assert.match(loadError(['--config', path]), /unknown setting amqp-port \(did you mean amqpPort\?\)/);
  });

  test('config file values must have their real type', () => {
    const path = file('quoted.yaml', 'amqpPort: "5673"\n');
    assert.match(loadError(['--config', path]), /quoted\.yaml: amqpPort must be a port .*got "5673"/);
    const list = file('list.json', '{"loopbackOnlyUsers": "guest"}');
    assert.match(loadError(['--config', list]), /loopbackOnlyUsers must be a list/);
  });

  test('unreadable, malformed or non-mapping files are one-line errors', () => {
    assert.match(
      loadError(['--config', join(dir, 'missing.yaml')]),
      /Cannot read config file .*missing\.yaml/,
    );
    assert.match(loadError(['--config', file('bad.yaml', 'a: [1, 2\nb: {')]), /is not valid YAML or JSON/);
    assert.match(loadError(['--config', file('seq.yaml', '- 1\n- 2\n')]), /must be a mapping/);
  });

  test('stray arguments and flags without values are refused', () => {
    assert.match(loadError(['now']), /Unexpected argument "now"/);
    assert.match(loadError(['--amqp-port']), /Flag --amqp-port needs a value/);
    assert.match(loadError(['--amqp-port', '--mqtt-port', '1']), /Flag --amqp-port needs a value/);
  });

  test('two listeners on one port are refused; 0 and auto may repeat', () => {
    assert.match(
      loadError(['--amqp-port', '7000', '--http-port', '7000']),
      /amqpPort and httpPort both use port 7000/,
    );
    const config = load([
      '--amqp-port',
      '0',
      '--mqtt-port',
      '0',
      '--kafka-port',
      'auto',
      '--http-port',
      'auto',
    ]);
    assert.equal(config.amqpPort, 0);
  });

  test('a secret value is never echoed', () => {
    const message = loadError(['--default-pass', 'x'.repeat(300)]);
    assert.equal(message.includes('xxx'), false);
  });

  test('the embedding options are checked the same way', () => {
    assert.throws(() => resolveConfig({ amqpPort: -1 }), /Broker option: amqpPort must be a port/);
    assert.throws(() => resolveConfig({ nope: 1 } as never), /unknown setting nope/);
  });
});
