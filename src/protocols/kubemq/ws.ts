/**
 * A WebSocket transport as a sink: each item one text frame of KubeMQ JSON. Until the upgrade completes the sink
 * is congested (feeds hold back) and keeps what is written; once attached, it is congested while the
 * socket's send buffer holds more than `bufferedBytesMax`, and drains as sends complete. Ending with
 * an error sends KubeMQ's error envelope as the last frame.
 *
 * A stream whose frames are requests (`onText`) is not read while the sink is congested: each request
 * is answered, so a client that sends and never reads would otherwise grow the answers it has not
 * taken without bound. A message still arriving in fragments is counted against the broker's ingress
 * budget, which stops reading the socket when the budget is spent, as it does for every protocol.
 */
import type { IngressAccount, IngressBudget } from '../ingress.js';
import type { Transport } from '../transport.js';
import { messageJson } from './json.js';
import { Encoded, type Sink, SinkEvents } from './sink.js';

/** Bytes queued on a socket before its subscription holds back. */
const bufferedBytesMax = 1024 * 1024;

export interface WebSocketSink<T> extends Sink<T> {
  /**
   * The upgrade is done: items go out on `transport`, and each text frame read goes to `onText`;
   * partial messages are held against `ingress` (the caller has logged in).
   */
  attach(transport: Transport, onText?: (text: string) => void, ingress?: IngressBudget): void;
}

/** Why the socket is not read, as bits: the answers back up, or the ingress budget is spent. */
const answersBit = 1;
const budgetBit = 2;

/** Reading `transport` stops while any reason holds it, and goes on once none does. */
function readGate(transport: Transport) {
  let holds = 0;
  return {
    hold(bit: number) {
      if (holds === 0) transport.pause();
      holds |= bit;
    },
    release(bit: number) {
      if ((holds & bit) === 0) return;
      holds &= ~bit;
      if (holds === 0) transport.resume();
    },
  };
}

/** An account of the bytes of messages not yet whole, for a caller that has logged in. */
function accountOf(
  ingress: IngressBudget | undefined,
  transport: Transport,
  gate: ReturnType<typeof readGate>,
): IngressAccount | undefined {
  const account = ingress?.open({
    pause: () => gate.hold(budgetBit),
    resume: () => gate.release(budgetBit),
    evict: () => transport.destroy(),
  });
  account?.authenticate();
  return account;
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
  let gate: ReturnType<typeof readGate> | undefined;
  let early: string[] = [];
  let wasCongested = false;
  const congested = () => socket === undefined || socket.bufferedBytes > bufferedBytesMax;
  const sent = () => {
    if (wasCongested && !congested()) {
      wasCongested = false;
      gate?.release(answersBit);
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
    attach(transport, onText, ingress) {
      socket = transport;
      const reads = readGate(transport);
      gate = reads;
      const account = accountOf(ingress, transport, reads);
      let held = 0;
      transport.attach({
        data: (chunk) => {
          if (onText === undefined) return;
          onText(chunk.toString('utf8'));
          if (congested()) reads.hold(answersBit);
        },
        holding: (bytes) => {
          if (bytes > held) account?.add(bytes - held);
          else account?.remove(held - bytes);
          held = bytes;
        },
        closed: () => {
          account?.close();
          events.markClosed();
        },
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
