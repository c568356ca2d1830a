/**
 * Objects created, used and deleted at once from every protocol, on one broker on file storage:
 * pipelined AMQP declare/delete/redeclare of queues, stream queues and exchanges, bindings, persistent
 * publishes with confirms, gets with acks and requeues, stream consumers; Kafka DeleteTopics and
 * CreateTopics with produce and fetch around them; MQTT session takeovers (clean start 0/1, expiry 0/N)
 * with QoS 1 and 2 in flight; an amqplib consumer that comes and goes. Nothing may escape or crash;
 * every confirmed message of an object not deleted afterwards is delivered as published (a repeat only
 * flagged as one); nothing published to a deleted incarnation shows up in a new one of the same name;
 * and at the end — and again after a restart — every object and count matches the model
 * (testing/lifecycle/). A fixed seed; LIFECYCLE_SEED, LIFECYCLE_ROUNDS and LIFECYCLE_SECONDS for longer runs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLifecycle } from '../../testing/lifecycle/run.js';

const seed = Number(process.env['LIFECYCLE_SEED'] ?? 20_251_204);
const rounds = Number(process.env['LIFECYCLE_ROUNDS'] ?? 4000);
const seconds = Number(process.env['LIFECYCLE_SECONDS'] ?? 12);

test(`object lifecycles across protocols: ${rounds} rounds, seed ${seed}`, async (t) => {
  const report = await runLifecycle({
    seed,
    rounds,
    timeMs: seconds * 1000,
    progress: (line) => t.diagnostic(line),
  });
  t.diagnostic(
    `${report.rounds} rounds in ${report.durationMs} ms; incarnations ${JSON.stringify(report.incarnations)}; ` +
      `${report.messages} messages; ${report.mqttConnects} MQTT connects`,
  );
  assert.deepEqual(report.faults, []);
  assert.ok(report.rounds > 500, `only ${report.rounds} rounds ran`);
});
