import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  closeAll,
  connack,
  connect,
  inbox,
  mqttTcpOnlyFlags,
  rawClient,
  sleep,
  startMqttBroker,
} from '../../../testing/mqtt-harness.js';
import { startCli } from '../../../testing/server-cli.js';

describe('restart', () => {
  test('after SIGKILL a persistent session keeps its queued QoS 1 messages and retained messages survive', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-mqtt-restart-'));
    const args = ['--storage', 'file', '--data-dir', dataDir, ...mqttTcpOnlyFlags];
    try {
      const first = await startCli(args);
      const url = `mqtt://127.0.0.1:${first.ports.mqtt}`;
      const sub = await connect(url, { clientId: 'survivor', clean: false });
      await sub.subscribeAsync('restart/t', { qos: 1 });
      await sub.endAsync();
      const pub = await connect(url);
      for (let i = 0; i < 5; i++) await pub.publishAsync('restart/t', `queued ${i}`, { qos: 1 });
      await pub.publishAsync('restart/retained', 'kept', { qos: 1, retain: true });
      await closeAll(pub);
      await sleep(100);
      first.kill();
      await first.stop('SIGKILL').catch(() => {});

      const second = await startCli(args);
      try {
        const url2 = `mqtt://127.0.0.1:${second.ports.mqtt}`;
        const back = await connect(url2, { clientId: 'survivor', clean: false });
        const got = await inbox(back).wait(5);
        assert.deepEqual(
          got.map((m) => m.text),
          Array.from({ length: 5 }, (_, i) => `queued ${i}`),
        );
        const late = await connect(url2);
        await late.subscribeAsync('restart/retained');
        const [r] = await inbox(late).wait(1);
        assert.equal(r!.text, 'kept');
        assert.equal(r!.packet.retain, true);
        await closeAll(back, late);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('after SIGKILL QoS 1 messages sent but never acknowledged come back, flagged DUP', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-mqtt-restart-'));
    const args = ['--storage', 'file', '--data-dir', dataDir, ...mqttTcpOnlyFlags];
    try {
      const first = await startCli(args);
      const raw = await rawClient(first.ports.mqtt!);
      await raw.connect('unacked', { clean: false });
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'restart/u', qos: 1 }] });
      await raw.expect((p) => p.cmd === 'suback');
      const pub = await connect(`mqtt://127.0.0.1:${first.ports.mqtt}`);
      for (let i = 0; i < 3; i++) await pub.publishAsync('restart/u', `held ${i}`, { qos: 1 });
      for (let i = 0; i < 3; i++) await raw.expect((p) => p.cmd === 'publish');
      await closeAll(pub);
      first.kill();
      await first.stop('SIGKILL').catch(() => {});
      raw.end();

      const second = await startCli(args);
      try {
        const back = await connect(`mqtt://127.0.0.1:${second.ports.mqtt}`, {
          clientId: 'unacked',
          clean: false,
        });
        const got = await inbox(back).wait(3);
        assert.deepEqual(
          got.map((m) => m.text),
          ['held 0', 'held 1', 'held 2'],
        );
        assert.ok(got.every((m) => m.packet.dup));
        await closeAll(back);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('restart of shared subscriptions', () => {
  test("a persistent session's shared subscription comes back after a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-mqtt-restart-'));
    const v5 = { protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } } as const;
    try {
      const first = await startMqttBroker({ storage: 'file', dataDir });
      const member = await connect(first.url, { ...v5, clientId: 'shared-member', clean: false });
      await member.subscribeAsync('$share/workers/restart/jobs', { qos: 1 });
      await member.subscribeAsync('restart/own', { qos: 1 });
      await member.unsubscribeAsync('restart/own');
      await closeAll(member);
      await first.stop();

      const second = await startMqttBroker({ storage: 'file', dataDir });
      try {
        const back = await connect(second.url, { ...v5, clientId: 'shared-member', clean: false });
        assert.equal(connack(back).sessionPresent, true);
        const pub = await connect(second.url);
        await pub.publishAsync('restart/own', 'not for the member', { qos: 1 });
        await pub.publishAsync('restart/jobs', 'job 1', { qos: 1 });
        const [job] = await inbox(back).wait(1);
        assert.equal(job!.text, 'job 1', 'the group membership was restored with the session');
        await closeAll(back, pub);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
