/**
 * For tests of the Kafka benches' clients: registers `before` / `after` hooks that start an embedded
 * broker with only the Kafka listener (memory storage), open one bench `Conn` to it and create `topic`
 * with one partition; the returned function gives the connection inside a test.
 */
import { after, before } from 'node:test';
import { Conn } from '../bench/kafka.js';
import { Broker } from '../src/index.js';
import { ApiKey } from '../src/protocols/kafka/codec/index.js';
import { silentLogger } from '../src/shared/logger.js';
import { allPortsOff } from './server-helpers.js';

export function benchKafkaConn(topic: string): () => Conn {
  let broker: Broker | undefined;
  let conn: Conn | undefined;
  before(async () => {
    broker = await Broker.start({
      storage: 'memory',
      logger: silentLogger(),
      ...allPortsOff,
      kafkaPort: 'auto',
    });
    conn = await Conn.open(broker.ports.kafkaPort!);
    await conn.request(ApiKey.CreateTopics, 4, {
      topics: [{ name: topic, numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 5000,
    });
  });
  after(async () => {
    conn?.socket.destroy();
    await broker?.stop();
  });
  return () => {
    if (conn === undefined) throw new Error('the bench connection is open only inside a test');
    return conn;
  };
}
