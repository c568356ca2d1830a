/**
 * The one way tests start an embedded broker: `startTestBroker({ listeners, storage })` turns on only
 * the listeners a test names, each on a free loopback port, with memory storage, a silent logger and no
 * fsync unless the test asks otherwise. The per-protocol harnesses are thin wrappers of it.
 */

import { test } from 'node:test';
import { Broker, type BrokerOptions } from '../src/server/broker.js';
import { silentLogger } from '../src/shared/logger.js';
import { allPortsOff } from './server-helpers.js';
import { makeTestPki, opensslMissing, type TestPki } from './tls.js';

/** A listener by its port setting's stem: `amqp` is `amqpPort`. */
export type TestListener =
  | 'amqp'
  | 'mqtt'
  | 'mqttWs'
  | 'kafka'
  | 'grpc'
  | 'rest'
  | 'http'
  | 'mqtts'
  | 'https';

export type TestBrokerOptions = Omit<BrokerOptions, 'listeners'> & {
  /** The listeners to turn on; every other port is 0. */
  readonly listeners?: readonly TestListener[];
  /** Replaces the registry of built listeners (a protocol's listener built with test options). */
  readonly definitions?: BrokerOptions['listeners'];
};

export interface TestBroker {
  readonly broker: Broker;
  /** The bound port of a listener the test turned on. */
  port(listener: TestListener): number;
  /** How that protocol's clients spell the address (`amqp://guest:guest@127.0.0.1:5672`, `127.0.0.1:9092`…). */
  url(listener: TestListener): string;
  stop(): Promise<void>;
}

const address: Record<TestListener, (port: number) => string> = {
  amqp: (port) => `amqp://guest:guest@127.0.0.1:${port}`,
  mqtt: (port) => `mqtt://127.0.0.1:${port}`,
  mqttWs: (port) => `ws://127.0.0.1:${port}/mqtt`,
  kafka: (port) => `127.0.0.1:${port}`,
  grpc: (port) => `127.0.0.1:${port}`,
  rest: (port) => `http://127.0.0.1:${port}`,
  http: (port) => `http://127.0.0.1:${port}`,
  mqtts: (port) => `mqtts://127.0.0.1:${port}`,
  https: (port) => `https://127.0.0.1:${port}`,
};

export async function startTestBroker(options: TestBrokerOptions = {}): Promise<TestBroker> {
  const { listeners = [], definitions, ...rest } = options;
  const on = Object.fromEntries(listeners.map((l) => [`${l}Port`, 'auto']));
  const broker = await Broker.start({
    storage: 'memory',
    fsync: 'never',
    logger: silentLogger(),
    kafkaGroupInitialRebalanceDelayMs: 0,
    ...allPortsOff,
    ...on,
    ...rest,
    ...(definitions === undefined ? {} : { listeners: definitions }),
  });
  const port = (listener: TestListener): number => {
    const bound = broker.ports[`${listener}Port`];
    if (bound === undefined) throw new Error(`the ${listener} listener is not on in this test broker`);
    return bound;
  };
  return { broker, port, url: (l) => address[l](port(l)), stop: () => broker.stop() };
}

/** What a test against a broker serving TLS gets: the broker, the CA its clients trust, the PKI. */
export type TlsBrokerTest<T> = (broker: TestBroker, ca: Buffer, pki: TestPki) => Promise<T>;

/**
 * A test broker serving a fresh test PKI's server certificate (TLS listeners are the test's to turn
 * on). The broker is stopped and the PKI removed after, whatever `run` did.
 */
export async function withTlsBroker<T>(options: TestBrokerOptions, run: TlsBrokerTest<T>): Promise<T> {
  const pki = makeTestPki();
  try {
    const broker = await startTestBroker({
      ...options,
      tlsCertFile: pki.server.cert,
      tlsKeyFile: pki.server.key,
    });
    try {
      return await run(broker, pki.read(pki.caFile), pki);
    } finally {
      await broker.stop();
    }
  } finally {
    pki.remove();
  }
}

/** A test against `withTlsBroker(options, run)`, skipped (saying why) where openssl is missing. */
export function testWithTlsBroker(name: string, options: TestBrokerOptions, run: TlsBrokerTest<void>): void {
  test(name, { skip: opensslMissing }, () => withTlsBroker(options, run));
}
