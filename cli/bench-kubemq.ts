/**
 * `switchyard bench kubemq`'s two calls, over gRPC with @grpc/grpc-js and the broker's own codec of
 * kubemq.proto (both ship with the broker, so it works from an installed package): a subscription
 * (`SubscribeToEvents`) and a `SendEventsStream` publisher. `--qos 0` sends events (at most once),
 * `--qos 1` events-store events (each one durable before its result comes back; the subscriber starts
 * with new ones only).
 *
 * KubeMQ confirms no subscription, so the run first sends probe events (shorter than any bench
 * payload, which is 16 bytes at least) until one comes back: every message measured then has a
 * subscriber waiting for it.
 */
import { Buffer } from 'node:buffer';
import {
  type ClientDuplexStream,
  type ClientReadableStream,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { kubemqService } from '../src/protocols/kubemq/proto.js';
import { type BenchPeers, type BenchSettings, failureSignal } from './bench-peers.js';

const probeEveryMs = 50;
const probesMax = 200;
/** KubeMQ's subscribe types and its events-store start (kubemq.proto). */
const SubscribeType = { events: 1, eventsStore: 2 } as const;
const startNewOnly = 1;

type Row = Record<string, unknown>;
interface KubemqClient {
  SubscribeToEvents(request: object, metadata: Metadata): ClientReadableStream<Row>;
  SendEventsStream(metadata: Metadata): ClientDuplexStream<object, Row>;
  SendEvent(request: object, metadata: Metadata, callback: (err: ServiceError | null) => void): void;
  close(): void;
}

function clientOf(s: BenchSettings): KubemqClient {
  const Client = makeGenericClientConstructor(kubemqService(), 'kubemq') as unknown as new (
    address: string,
    creds: ReturnType<typeof credentials.createInsecure>,
  ) => KubemqClient;
  return new Client(`${s.host}:${s.port}`, credentials.createInsecure());
}

function metadataOf(s: BenchSettings): Metadata {
  const metadata = new Metadata();
  if (s.user !== undefined)
    metadata.set('authorization', `Basic ${Buffer.from(`${s.user}:${s.password ?? ''}`).toString('base64')}`);
  return metadata;
}

export function kubemqPeers(s: BenchSettings, channel: string): BenchPeers {
  const client = clientOf(s);
  const metadata = metadataOf(s);
  const store = s.qos === 1;
  const where = `kubemq://${s.host}:${s.port}`;
  const event = (clientId: string, body: Uint8Array) => ({
    ClientID: clientId,
    Channel: channel,
    Body: body,
    Store: store,
  });
  let subscription: ClientReadableStream<Row> | undefined;
  let sends: ClientDuplexStream<object, Row> | undefined;
  const { failure, fail, stop } = failureSignal();
  const failed = (err: ServiceError) => fail(new Error(`${where}: ${err.details || err.message}`));
  const probe = (): Promise<void> =>
    new Promise((resolve, reject) =>
      client.SendEvent(event(`bench-probe-${process.pid}`, Buffer.from('p')), metadata, (err) =>
        err === null ? resolve() : reject(new Error(`${where}: ${err.details || err.message}`)),
      ),
    );
  return {
    failure,
    async subscribe(onPayload) {
      let arrived: () => void = () => {};
      let refused: (err: Error) => void = () => {};
      const ready = new Promise<void>((resolve, reject) => {
        arrived = resolve;
        refused = reject;
      });
      subscription = client.SubscribeToEvents(
        {
          SubscribeTypeData: store ? SubscribeType.eventsStore : SubscribeType.events,
          ClientID: `bench-sub-${process.pid}`,
          Channel: channel,
          Group: '',
          EventsStoreTypeData: store ? startNewOnly : 0,
          EventsStoreTypeValue: 0,
        },
        metadata,
      );
      subscription.on('data', (received: Row) => {
        const body = received['Body'] as Buffer;
        if (body.length < 16) arrived();
        else onPayload(body);
      });
      subscription.on('error', (err: ServiceError) => {
        refused(new Error(`${where}: ${err.details || err.message}`));
        failed(err);
      });
      let landed = false;
      void ready.then(
        () => (landed = true),
        () => undefined,
      );
      for (let i = 0; i < probesMax && !landed; i++) {
        await Promise.race([probe(), ready]);
        await Promise.race([new Promise((resolve) => setTimeout(resolve, probeEveryMs)), ready]);
      }
      if (!landed) throw new Error(`${where}: the subscription received no probe event`);
      await ready;
    },
    async publisher() {
      const clientId = `bench-pub-${process.pid}`;
      sends = client.SendEventsStream(metadata);
      sends.on('data', (result: Row) => {
        if (result['Sent'] === false) fail(new Error(`${where}: ${String(result['Error'])}`));
      });
      sends.on('error', failed);
      return (payload) => {
        sends?.write(event(clientId, payload));
      };
    },
    close() {
      stop();
      subscription?.cancel();
      sends?.end();
      client.close();
    },
  };
}
