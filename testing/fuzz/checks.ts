/**
 * After each batch of cases: a fresh, normal client of the fuzzed protocol — the real library — does a
 * full round trip. A broker that is alive but no longer serves fails here.
 */
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { QueuesClient } from 'kubemq-js';
import mqtt from 'mqtt';
import type { ReadyPorts } from '../server-cli.js';
import { adminFetch } from '../server-helpers.js';
import type { Protocol } from './dialects/index.js';

/** Long enough for a machine busy with other work; a broker that hangs still fails it. */
const roundTripMsMax = 60_000;

async function amqpRoundTrip(port: number, n: number): Promise<void> {
  const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  connection.on('error', () => {});
  try {
    const ch = await connection.createConfirmChannel();
    const queue = `fuzz.check.${n}`;
    await ch.assertQueue(queue, { exclusive: true });
    ch.sendToQueue(queue, Buffer.from(`check ${n}`), { persistent: true });
    await ch.waitForConfirms();
    const got = await ch.get(queue, { noAck: false });
    if (!got || got.content.toString() !== `check ${n}`)
      throw new Error('AMQP: the message did not come back');
    ch.ack(got);
    await ch.deleteQueue(queue);
  } finally {
    await connection.close();
  }
}

async function mqttRoundTrip(url: string, n: number): Promise<void> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: n % 2 === 0 ? 5 : 4,
    clientId: `fuzz-check-${n}`,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
  try {
    const topic = `fuzz/check/${n}`;
    const got = new Promise<string>((resolve) =>
      client.once('message', (_t, payload) => resolve(payload.toString())),
    );
    await client.subscribeAsync(topic, { qos: 1 });
    await client.publishAsync(topic, `check ${n}`, { qos: 1 });
    if ((await got) !== `check ${n}`) throw new Error('MQTT: the message did not come back');
  } finally {
    await client.endAsync();
  }
}

async function kafkaRoundTrip(port: number, n: number, phase: { name: string }): Promise<void> {
  const kafka = new Kafka({
    clientId: `fuzz-check-${n}`,
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 2, initialRetryTime: 100 },
    // kafkajs gives up on a connect after 1 s by default: too short on a machine busy with other work.
    connectionTimeout: 10_000,
  });
  const topic = `fuzz-check-${n}`;
  const producer = kafka.producer();
  const consumer = kafka.consumer({
    groupId: `fuzz-check-${n}`,
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    // disconnect() waits for the fetch in flight: kafkajs's 5 s default wait made each check 5 s longer.
    maxWaitTimeInMs: 100,
  });
  try {
    phase.name = 'producer connect';
    await producer.connect();
    phase.name = 'produce';
    await producer.send({ topic, messages: [{ key: 'k', value: `check ${n}` }] });
    phase.name = 'consumer connect';
    await consumer.connect();
    phase.name = 'subscribe';
    await consumer.subscribe({ topic, fromBeginning: true });
    phase.name = 'join and fetch';
    const got = new Promise<string>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => resolve(String(message.value)) });
    });
    if ((await got) !== `check ${n}`) throw new Error('Kafka: the record did not come back');
  } finally {
    phase.name = 'disconnect';
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
  }
}

async function httpRoundTrip(port: number): Promise<void> {
  for (const path of ['/api/overview', '/api/queues', '/metrics']) {
    const response = await adminFetch(`http://127.0.0.1:${port}${path}`);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`HTTP: ${path} answered ${response.status}`);
  }
}

/** kubemq-js: a queue message sent and pulled back. */
async function kubemqGrpcRoundTrip(port: number, n: number): Promise<void> {
  const queues = new QueuesClient({
    address: `127.0.0.1:${port}`,
    clientId: `fuzz-check-${n}`,
    reconnectInterval: 0,
  });
  try {
    const channel = `fuzz.check.${n}`;
    const sent = await queues.send({ channel, body: new TextEncoder().encode(`check ${n}`) });
    if (sent.isError) throw new Error(`KubeMQ gRPC: send failed: ${sent.error}`);
    const pulled = await queues.pull({ channel, maxNumberOfMessages: 1, waitTimeoutSeconds: 5 });
    const body = pulled.messages[0]?.body;
    if (body === undefined || new TextDecoder().decode(body as Uint8Array) !== `check ${n}`)
      throw new Error('KubeMQ gRPC: the message did not come back');
  } finally {
    queues.close();
  }
}

/** fetch: `/queue/send`, then `/queue/receive` gives it back. */
async function kubemqRestRoundTrip(port: number, n: number): Promise<void> {
  const post = async (path: string, body: object) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const envelope = (await response.json()) as {
      is_error: boolean;
      message: string;
      data: Record<string, unknown>;
    };
    if (response.status !== 200 || envelope.is_error)
      throw new Error(`KubeMQ REST: ${path} answered ${response.status} ${envelope.message}`);
    return envelope.data;
  };
  const channel = `fuzz.rest.${n}`;
  await post('/queue/send', {
    ClientID: 'fuzz-check',
    Channel: channel,
    Body: Buffer.from(`check ${n}`).toString('base64'),
  });
  const got = await post('/queue/receive', {
    ClientID: 'fuzz-check',
    Channel: channel,
    MaxNumberOfMessages: 1,
    WaitTimeSeconds: 5,
  });
  const body = (got['Messages'] as Array<{ Body?: string }> | undefined)?.[0]?.Body;
  if (body === undefined || Buffer.from(body, 'base64').toString() !== `check ${n}`)
    throw new Error('KubeMQ REST: the message did not come back');
}

function roundTrip(protocol: Protocol, ports: ReadyPorts, n: number, phase: { name: string }): Promise<void> {
  switch (protocol) {
    case 'amqp':
      return amqpRoundTrip(ports.amqp!, n);
    case 'mqtt':
      return mqttRoundTrip(`mqtt://127.0.0.1:${ports.mqtt!}`, n);
    case 'mqtt-ws':
      return mqttRoundTrip(`ws://127.0.0.1:${ports['mqtt-ws']!}/mqtt`, n);
    case 'kafka':
      return kafkaRoundTrip(ports.kafka!, n, phase);
    case 'http':
      return httpRoundTrip(ports.http!);
    case 'kubemq-grpc':
      return kubemqGrpcRoundTrip(ports.grpc!, n);
    case 'kubemq-rest':
      return kubemqRestRoundTrip(ports.rest!, n);
  }
}

/** A round trip of the real client, failing after `roundTripMsMax`. */
export async function checkRoundTrip(protocol: Protocol, ports: ReadyPorts, n: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const phase = { name: 'all' };
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${protocol} round trip took over ${roundTripMsMax} ms (at: ${phase.name})`)),
      roundTripMsMax,
    );
  });
  try {
    await Promise.race([roundTrip(protocol, ports, n, phase), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
