/**
 * How long one large KubeMQ request holds the broker's event loop: an in-process broker (memory
 * storage), each body made beforehand and POSTed, the loop's longest delay until the answer
 * (`monitorEventLoopDelay`). Not a test: `node dist/testing/loop-hold-kubemq.js [count]`;
 * `node dist/testing/loop-hold-kubemq.js tags [tags per message]` sends a batch of 1,024 messages each
 * carrying that many tags (1,000 by default) over REST and over gRPC.
 */
import { request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Client, credentials } from '@grpc/grpc-js';
import { kubemqSchema, serviceName } from '../src/protocols/kubemq/proto.js';
import { encodeMessage } from '../src/protocols/kubemq/protobuf.js';
import { startTestBroker } from './broker.js';

const tagsMode = process.argv[2] === 'tags';
const count = Number(process.argv[tagsMode ? 3 : 2] ?? (tagsMode ? 1_000 : 100_000));
const histogram = monitorEventLoopDelay({ resolution: 5 });

function post(port: number, path: string, body: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        res.on('end', () => resolve(`${res.statusCode}, ${bytes} B`));
      },
    );
    req.on('error', (e) => resolve(`failed: ${e.message}`));
    req.end(body);
  });
}

function report(name: string, outcome: string, start: number): void {
  const tookMs = performance.now() - start;
  console.log(
    `${name}: loop held ${(histogram.max / 1e6).toFixed(0)} ms, ${outcome} in ${tookMs.toFixed(0)} ms`,
  );
}

/** A batch of 1,024 messages of `count` tags each, under the per-message bound, over REST and gRPC. */
async function tagsBatches(): Promise<void> {
  const server = await startTestBroker({ listeners: ['rest', 'grpc'] });
  const tags = Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, 'v']));
  const messages = Array.from({ length: 1024 }, () => ({
    ClientID: 'h',
    Channel: 'hold.tags',
    Body: 'aGk=',
    Tags: tags,
  }));
  const body = Buffer.from(JSON.stringify({ BatchID: 'b', Messages: messages }));
  // Encoded before the measure, and sent as bytes: encoding 1,000,000 tags costs the client seconds.
  const client = new Client(server.url('grpc'), credentials.createInsecure());
  const grpcBatch = encodeMessage(kubemqSchema, 'QueueMessagesBatchRequest', {
    BatchID: 'b',
    Messages: messages.map((m) => ({ ...m, Body: Buffer.from('hi') })),
  });
  const sendBatch = () =>
    new Promise<string>((resolve) =>
      client.makeUnaryRequest(
        `/${serviceName}/SendQueueMessagesBatch`,
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        grpcBatch,
        (err) => resolve(err === null ? 'answered' : `failed: ${err.message.slice(0, 100)}`),
      ),
    );
  histogram.enable();
  for (let run = 0; run < 2; run++) {
    histogram.reset();
    let start = performance.now();
    const outcome = await post(server.port('rest'), '/queue/send_batch', body);
    await new Promise((resolve) => setTimeout(resolve, 50));
    report(`REST send_batch 1,024 × ${count} tags (${body.length} B)`, outcome, start);
    histogram.reset();
    start = performance.now();
    const answered = await sendBatch();
    await new Promise((resolve) => setTimeout(resolve, 50));
    report(`gRPC SendQueueMessagesBatch 1,024 × ${count} tags (${grpcBatch.length} B)`, answered, start);
  }
  histogram.disable();
  client.close();
  await server.stop();
}

async function main(): Promise<void> {
  if (tagsMode) return tagsBatches();
  const server = await startTestBroker({ listeners: ['rest'] });
  const port = server.port('rest');
  const messages = Array.from({ length: count }, (_, i) => ({
    ClientID: 'h',
    Channel: `hold.${i % 10}`,
    Body: 'aGk=',
  }));
  const bodies: Record<string, Buffer> = {
    sendBatch: Buffer.from(JSON.stringify({ BatchID: 'b', Messages: messages })),
    nested: Buffer.from(`${'['.repeat(count)}${']'.repeat(count)}`),
  };
  histogram.enable();
  for (let run = 0; run < 2; run++) {
    for (const [name, body] of Object.entries(bodies)) {
      histogram.reset();
      const start = performance.now();
      const outcome = await post(port, name === 'nested' ? '/queue/send' : '/queue/send_batch', body);
      const tookMs = performance.now() - start;
      await new Promise((resolve) => setTimeout(resolve, 50));
      console.log(
        `${name} ×${count} (${body.length} B): loop held ${(histogram.max / 1e6).toFixed(0)} ms, ${outcome} in ${tookMs.toFixed(0)} ms`,
      );
    }
  }
  histogram.disable();
  await server.stop();
}

await main();
