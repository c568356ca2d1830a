/**
 * `npm run bench -- peers`: every workload of the performance goals in one run, Switchyard beside its
 * peer where one is installed (RabbitMQ, Mosquitto from ../shared/peers), then one table of the goals,
 * met or not. Kafka's has no peer here: kcat produces 2,000,000 × 256 B with acks=all to one partition
 * and reads them back.
 */
import { type PeerComparison, runAmqpBench } from './amqp.js';
import { kcatRecordBytes, kcatRecords, kcatRuns } from './kcat.js';
import { runMqttBench } from './mqtt.js';

interface Goal {
  readonly workload: string;
  /** Switchyard's rate over the peer's, at least. */
  readonly ratioMin: number;
}

/** The goals of the performance issue that a ratio against a peer states. */
const ratioGoals: readonly Goal[] = [
  { workload: 'AMQP durable', ratioMin: 2.5 },
  { workload: 'AMQP transient', ratioMin: 2.5 },
  { workload: 'MQTT QoS 0, 1 → 1', ratioMin: 1.5 },
  { workload: 'MQTT QoS 1, 1 → 1', ratioMin: 1.5 },
  { workload: 'MQTT QoS 0, 1 → 50 (deliveries/s)', ratioMin: 2 },
];

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function goalRows(compared: readonly PeerComparison[]): string[] {
  return ratioGoals.map(({ workload, ratioMin }) => {
    const row = compared.find((c) => c.workload === workload);
    if (row?.peer === undefined) return `| ${workload} | ≥ ${ratioMin}× the peer | no peer in this run | — |`;
    const ratio = row.ours.rate / row.peer.rate;
    const p99 = `p99 ${row.ours.p99Ms.toFixed(1)} vs ${row.peer.p99Ms.toFixed(1)} ms`;
    return `| ${workload} | ≥ ${ratioMin}× the peer | ${fmt(row.ours.rate)} vs ${fmt(row.peer.rate)} msg/s = ${ratio.toFixed(2)}×, ${p99} | ${ratio >= ratioMin ? 'met' : 'not met'} |`;
  });
}

export async function runPeersBench(): Promise<void> {
  const compared = [...(await runAmqpBench()), ...(await runMqttBench())];
  const kcat = (await kcatRuns(1))?.[0];
  const lines = [
    '',
    '## Goals in this run',
    '',
    '| workload | goal | measured | |',
    '| --- | --- | --- | --- |',
  ];
  lines.push(...goalRows(compared));
  if (kcat !== undefined) {
    const label = `${fmt(kcatRecords)} × ${kcatRecordBytes} B`;
    // CPU per record produced, the broker's and kcat's own: each has one of the two cores. kcat's
    // page faults say how much of its figure was its allocator (docs/performance.md, sixth pass).
    const faults = kcat.kcatFaultsPerThousand?.toFixed(1) ?? '—';
    const cpu = `broker ${kcat.cpuUsPerRecord?.toFixed(2) ?? '—'} µs, kcat ${kcat.kcatUsPerRecord.toFixed(2)} µs CPU per record, kcat ${faults} faults per 1,000 records`;
    lines.push(
      `| Kafka, kcat, ${label}, acks=all, 1 partition | ≥ 1,000,000 rec/s produced | ${fmt(kcat.produced)} rec/s (${cpu}) | ${kcat.produced >= 1e6 ? 'met' : 'not met'} |`,
      `| Kafka, kcat, read back | ≥ 1,000,000 rec/s | ${fmt(kcat.read)} rec/s | ${kcat.read >= 1e6 ? 'met' : 'not met'} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
