/**
 * `npm run screenshots`: the README's pictures of the dashboard. Starts a broker in memory with some
 * queues and steady AMQP and MQTT traffic, opens the dashboard in Chromium, lets the overview collect
 * a minute's worth of samples at one per second (bounded), and writes docs/images/dashboard-overview.png
 * and docs/images/dashboard-queues.png.
 */
import { mkdirSync } from 'node:fs';
import amqp from 'amqplib';
import { startTestBroker } from './broker.js';
import { browserMissing, launchChromium, logIn } from './browser.js';
import { closeAll, connect, sleep } from './mqtt-harness.js';

const outFolder = new URL('../../docs/images/', import.meta.url);
/** How long the overview records traffic before its picture is taken. */
const recordMs = 30_000;
const queueNames = ['orders', 'invoices', 'shipping.eu', 'shipping.us', 'audit', 'email.outbox'];

async function main(): Promise<void> {
  const missing = browserMissing();
  if (missing !== undefined) throw new Error(missing);
  mkdirSync(outFolder, { recursive: true });
  const broker = await startTestBroker({ listeners: ['amqp', 'mqtt', 'http'] });
  const connection = await amqp.connect(broker.url('amqp'));
  const channel = await connection.createChannel();
  const sensor = await connect(broker.url('mqtt'), { clientId: 'sensor-7' });
  const browser = await launchChromium();
  let running = true;
  try {
    for (const name of queueNames) await channel.assertQueue(name, { durable: true });
    await channel.consume('audit', (msg) => msg && channel.ack(msg));
    // A publisher whose rate swings, and a consumer that keeps up with one queue only.
    const traffic = (async () => {
      for (let tick = 0; running; tick++) {
        const burst = 20 + Math.round(15 * Math.sin(tick / 8));
        for (let i = 0; i < burst; i++) {
          const queue = queueNames[(tick + i) % queueNames.length]!;
          channel.sendToQueue(queue, Buffer.from(JSON.stringify({ tick, i })));
        }
        await sensor.publishAsync('sensors/7/temperature', String(20 + (tick % 5)), { qos: 0 });
        await sleep(100);
      }
    })();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await logIn(page, broker.url('http'));
    await page.getByLabel('Refresh every (seconds)').selectOption('1');
    await sleep(recordMs);
    await page.screenshot({ path: new URL('dashboard-overview.png', outFolder).pathname, fullPage: false });
    await page.getByRole('link', { name: 'Queues and streams' }).click();
    await page.getByRole('link', { name: 'orders' }).waitFor();
    await page.screenshot({ path: new URL('dashboard-queues.png', outFolder).pathname, fullPage: false });
    running = false;
    await traffic;
  } finally {
    running = false;
    await browser.close();
    await closeAll(sensor);
    await connection.close().catch(() => undefined);
    await broker.stop();
  }
  console.log(`wrote ${new URL('dashboard-overview.png', outFolder).pathname} and dashboard-queues.png`);
}

await main();
