/**
 * The ceiling `npm run bench -- kubemq` measures Switchyard against: a gRPC server on the same library
 * and service definition that relays every SendEventsStream event to every live SubscribeToEvents
 * stream and does nothing else (no validation, no routing, no broker). Prints `port <n>` once bound.
 */
import { Server, ServerCredentials, type ServerDuplexStream, type ServerWritableStream } from '@grpc/grpc-js';
import { kubemqService } from '../src/protocols/kubemq/proto.js';

type Row = Record<string, unknown>;
const subscribers = new Set<ServerWritableStream<Row, Row>>();
const server = new Server();
server.addService(kubemqService(), {
  SendEventsStream: (call: ServerDuplexStream<Row, Row>) => {
    call.on('data', (event: Row) => {
      const out = {
        EventID: event['EventID'],
        Channel: event['Channel'],
        Metadata: event['Metadata'],
        Body: event['Body'],
      };
      for (const subscriber of subscribers) subscriber.write(out);
    });
    call.on('end', () => call.end());
  },
  SubscribeToEvents: (call: ServerWritableStream<Row, Row>) => {
    subscribers.add(call);
    const forget = () => subscribers.delete(call);
    call.on('cancelled', forget);
    call.on('close', forget);
  },
});
server.bindAsync(`127.0.0.1:${process.argv[2] ?? 0}`, ServerCredentials.createInsecure(), (err, port) => {
  if (err !== null) throw err;
  process.stdout.write(`port ${port}\n`);
});
