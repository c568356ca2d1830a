/**
 * A WebSocket transport as a sink: each item one text frame of KubeMQ JSON. Until the upgrade completes the sink
 * is congested (feeds hold back) and keeps what is written; once attached, it is congested while the
 * socket's send buffer holds more than `bufferedBytesMax`, and drains as sends complete. Ending with
 * an error sends KubeMQ's error envelope as the last frame.
 */
import type { Transport } from '../transport.js';
import { messageJson } from './json.js';
import { Encoded, type Sink, SinkEvents } from './sink.js';

/** Bytes queued on a socket before its subscription holds back. */
const bufferedBytesMax = 1024 * 1024;

export interface WebSocketSink<T> extends Sink<T> {
  /** The upgrade is done: items go out on `transport`, and each text frame read goes to `onText`. */
  attach(transport: Transport, onText?: (text: string) => void): void;
}

const encoders = new Map<string, (item: never) => Encoded>();

/** One encoder per message type, shared by every socket that sends that type. */
function encoderOf<T>(typeName: string): (item: T) => Encoded {
  let encode = encoders.get(typeName);
  if (encode === undefined) {
    encode = (item: never) => new Encoded(messageJson(typeName, item));
    encoders.set(typeName, encode);
  }
  return encode as (item: T) => Encoded;
}

export function webSocketSink<T>(typeName: string, itemsBeforeAttachMax: number): WebSocketSink<T> {
  const encode = encoderOf<T>(typeName);
  const events = new SinkEvents();
  let socket: Transport | undefined;
  let early: string[] = [];
  let wasCongested = false;
  const congested = () => socket === undefined || socket.bufferedBytes > bufferedBytesMax;
  const sent = () => {
    if (wasCongested && !congested()) {
      wasCongested = false;
      events.drain();
    }
  };
  const send = (frame: string) => {
    if (socket === undefined) {
      // Before the upgrade only a stream's own answers are written, a handful at most.
      if (early.length < itemsBeforeAttachMax) early.push(frame);
      return;
    }
    socket.write(Buffer.from(frame), sent);
    if (congested()) wasCongested = true;
  };
  return {
    attach(transport, onText) {
      socket = transport;
      transport.attach({
        data: (chunk) => onText?.(chunk.toString('utf8')),
        closed: () => events.markClosed(),
      });
      for (const frame of early) send(frame);
      early = [];
      if (events.closed) transport.end();
      else events.drain();
    },
    encode,
    write: (item) => {
      if (events.closed) return;
      send(item instanceof Encoded ? (item.wire as string) : messageJson(typeName, item));
    },
    congested,
    onDrain: (listener) => events.onDrain(listener),
    drained: () => events.whenDrained(),
    onClose: (listener) => events.onClose(listener),
    end: (error) => {
      if (events.closed) return;
      if (error !== undefined) {
        send(`{"is_error":true,"message":${JSON.stringify(error.message)},"data":null}`);
      }
      events.markClosed();
      socket?.end();
    },
    get closed() {
      return events.closed;
    },
  };
}
