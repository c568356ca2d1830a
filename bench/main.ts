/**
 * `npm run bench -- <name>`: runs one benchmark by name. Each area adds its entry to `benches`.
 */
import { runAmqpBench } from './amqp.js';
import { runAmqpGetBench } from './amqp-get.js';
import { runBacklogBench } from './backlog.js';
import { runDashboardBench } from './dashboard.js';
import { runFootprintBench } from './footprint.js';
import { runIngressMemoryBench } from './ingress-memory.js';
import { runKafkaBench } from './kafka.js';
import { runKafkaCompactionBench } from './kafka-compaction.js';
import { runKafkaFetchBench } from './kafka-fetch.js';
import { runKafkaTxnBench } from './kafka-txn.js';
import { runKcatBench } from './kcat.js';
import { runKubemqBench } from './kubemq.js';
import { runLatencyBench } from './latency.js';
import { runLoginFloodBench } from './login-flood.js';
import { runManyConsumersBench } from './many-consumers.js';
import { runMqttBench } from './mqtt.js';
import { runPeersBench } from './peers.js';
import { runPermissionsBench } from './permissions.js';
import { runRatesBench } from './rates.js';
import { runStorageBench } from './storage.js';
import { runTlsBench } from './tls.js';

/** Each bench gets the words after its name (`npm run bench -- latency mqtt`). */
const benches: Record<string, (args: string[]) => Promise<unknown>> = {
  storage: runStorageBench,
  amqp: runAmqpBench,
  'amqp-get': runAmqpGetBench,
  backlog: runBacklogBench,
  mqtt: runMqttBench,
  kafka: async () => {
    await runKafkaBench();
    await runKafkaTxnBench();
    await runKafkaCompactionBench();
  },
  'kafka-fetch': runKafkaFetchBench,
  'kafka-txn': runKafkaTxnBench,
  'kafka-compaction': runKafkaCompactionBench,
  kcat: runKcatBench,
  kubemq: runKubemqBench,
  'login-flood': runLoginFloodBench,
  'many-consumers': runManyConsumersBench,
  'ingress-memory': runIngressMemoryBench,
  footprint: runFootprintBench,
  latency: runLatencyBench,
  peers: runPeersBench,
  permissions: runPermissionsBench,
  tls: runTlsBench,
  dashboard: runDashboardBench,
  rates: runRatesBench,
};

async function main(): Promise<void> {
  const name = process.argv[2];
  const run = name === undefined ? undefined : benches[name];
  if (!run) {
    process.stderr.write(`usage: npm run bench -- <name>\nbenchmarks: ${Object.keys(benches).join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  await run(process.argv.slice(3));
}

await main();
