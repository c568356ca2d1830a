/**
 * A gRPC request past the largest message is refused by grpc-js as soon as its 5-byte length prefix
 * is read (nothing of it is buffered), RESOURCE_EXHAUSTED with grpc-js's own text, which names neither
 * the broker's limit nor where it comes from. This rewrites that status's details, keeping grpc-go's
 * wording (the server KubeMQ runs on: "grpc: received message larger than max (N vs. M)") and adding
 * Switchyard's limit. grpc-js sends that status from its base call, past every interceptor's
 * responder, so the rewrite sits on the base call's own `sendStatus`: once per call, nothing per message.
 */
import { type ServerInterceptingCallInterface, status } from '@grpc/grpc-js';

/** grpc-js 1.14's refusals: a message's announced size, and one that inflates past the limit. */
const announcedTooLarge = /^Received message larger than max \((\d+) vs\.? (\d+)\)$/;
const inflatedTooLarge = /^Received message that decompresses to a size larger than (\d+)$/;

/** The limit in Switchyard's terms: the largest body and the room beside it for its other fields. */
export interface MessageLimit {
  readonly frameBytesMax: number;
  readonly messageBytesMax: number;
}

/** Room beside the largest body for a message's other fields (ids, channel, metadata, tags). */
const fieldsBytesMax = 1024 * 1024;

export function messageLimitOf(messageBytesMax: number): MessageLimit {
  return { frameBytesMax: messageBytesMax + fieldsBytesMax, messageBytesMax };
}

/** `details` in Switchyard's words when it is one of grpc-js's refusals of a large message. */
export function namedLimitDetails(details: string, limit: MessageLimit): string | undefined {
  const announced = announcedTooLarge.exec(details);
  const inflated = announced === null ? inflatedTooLarge.exec(details) : null;
  if (announced === null && inflated === null) return undefined;
  const size = announced === null ? `more than ${limit.frameBytesMax}` : announced[1];
  const fields = limit.frameBytesMax - limit.messageBytesMax;
  return (
    `grpc: received message larger than max (${size} vs. ${limit.frameBytesMax}): Switchyard takes ` +
    `KubeMQ messages of at most ${limit.frameBytesMax} bytes, a body of messageBytesMax ` +
    `(${limit.messageBytesMax}) and ${fields} for the other fields`
  );
}

/**
 * Names the limit in `call`'s refusals of a large message. `call` must be grpc-js's base call (what
 * the server's first interceptor is handed).
 */
export function nameLimitOn(call: ServerInterceptingCallInterface, limit: MessageLimit): void {
  const send = call.sendStatus.bind(call);
  call.sendStatus = (outcome) => {
    if (outcome.code !== status.RESOURCE_EXHAUSTED) return send(outcome);
    const details = namedLimitDetails(outcome.details ?? '', limit);
    send(details === undefined ? outcome : { ...outcome, details });
  };
}
