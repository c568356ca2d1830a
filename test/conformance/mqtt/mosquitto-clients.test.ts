import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type MqttTestBroker, sleep, startMqttBroker } from '../../../testing/mqtt-harness.js';

const run = promisify(execFile);
const installed = spawnSync('mosquitto_pub', ['--help']).error === undefined;
const skip = installed
  ? false
  : 'mosquitto_pub/mosquitto_sub not installed (Debian package mosquitto-clients)';

let server: MqttTestBroker;
before(async () => {
  if (installed) server = await startMqttBroker();
});
after(() => server?.stop());

describe('mosquitto clients (a second, non-JS client)', () => {
  for (const version of ['mqttv311', 'mqttv5'] as const) {
    test(`mosquitto_sub receives what mosquitto_pub sends (${version})`, { skip }, async () => {
      const port = String(server.port);
      const sub = run('mosquitto_sub', [
        '-h',
        '127.0.0.1',
        '-p',
        port,
        '-V',
        version,
        '-t',
        `smoke/${version}/#`,
        '-q',
        '1',
        '-C',
        '3',
        '-W',
        '5',
        '-v',
      ]);
      await sleep(300);
      for (const qos of ['0', '1', '2']) {
        await run('mosquitto_pub', [
          '-h',
          '127.0.0.1',
          '-p',
          port,
          '-V',
          version,
          '-t',
          `smoke/${version}/q${qos}`,
          '-m',
          `hello ${qos}`,
          '-q',
          qos,
        ]);
      }
      const { stdout } = await sub;
      assert.deepEqual(
        stdout.trim().split('\n'),
        [0, 1, 2].map((q) => `smoke/${version}/q${q} hello ${q}`),
      );
    });
  }

  test('a retained message set by mosquitto_pub is read back by mosquitto_sub', { skip }, async () => {
    const port = String(server.port);
    await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      port,
      '-t',
      'smoke/retained',
      '-m',
      'sticky',
      '-r',
      '-q',
      '1',
    ]);
    const { stdout } = await run('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      port,
      '-t',
      'smoke/retained',
      '-C',
      '1',
      '-W',
      '5',
    ]);
    assert.equal(stdout.trim(), 'sticky');
  });
});
