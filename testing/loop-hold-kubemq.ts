/**
 * How long one large KubeMQ REST request holds the broker's event loop: an in-process broker (memory
 * storage), each body made beforehand and POSTed, the loop's longest delay until the answer
 * (`monitorEventLoopDelay`). Not a test: `node dist/testing/loop-hold-kubemq.js [count]`.
 */
import { request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startTestBroker } from './broker.js';

const count = Number(process.argv[2] ?? 100_000);
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

async function main(): Promise<void> {
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
