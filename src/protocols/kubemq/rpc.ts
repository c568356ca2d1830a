/**
 * Commands and queries: request / reply with a timeout, on core's request path (core/requests.ts). A
 * request is published to the exchange of its kind (`kubemq.commands`, `kubemq.queries`) with the
 * channel as routing key and a reply address core makes up; a responder's subscription is a queue
 * bound there (wildcards and groups as for events), and it answers with `SendResponse` to the
 * `ReplyChannel` it was handed — the reply address, or the name of an AMQP reply queue when the
 * requester was an AMQP client. No answer within `Timeout` ms is Error 301. A command's reply keeps
 * only `Executed`, `Error`, `Timestamp`, `ClientID` and `RequestID`, as KubeMQ's. Queries with a
 * `CacheKey` are answered from the query cache for `CacheTTL` seconds.
 */
import { randomUUID } from 'node:crypto';
import { headerValue, type Message } from '../../core/types.js';
import { checkChannel } from './channels.js';
import { fail, Texts } from './errors.js';
import { startFeed } from './feed.js';
import { Header, headersOf, msToNs, nsToMs, propertiesOf, tagsOf, text } from './mapping.js';
import { type Caller, Exchanges } from './server.js';
import type { Sink } from './sink.js';
import { subscriptionQueue } from './subscriptions.js';
import { type Request, RequestType, type Response, type Subscribe, SubscribeType } from './types.js';

const none = new Uint8Array(0);

function exchangeOf(type: number): string {
  if (type === RequestType.command) return Exchanges.commands;
  if (type === RequestType.query) return Exchanges.queries;
  return fail(Texts.requestType);
}

/** KubeMQ's checks of a request, in its order (101, 102, 119, 108, 107, 109, 115, 116). */
function checkRequest(request: Request, bytesMax: number): void {
  if (request.ClientID === '') fail(Texts.clientIdEmpty);
  checkChannel(request.Channel, { wildcards: false });
  if (request.Timeout <= 0) fail(Texts.timeout);
  if (request.Metadata === '' && request.Body.length === 0) fail(Texts.requestEmpty);
  if (request.CacheKey !== '' && request.CacheTTL <= 0) fail(Texts.cacheTtl);
  if (request.Body.length > bytesMax)
    fail(`request body of ${request.Body.length} bytes exceeds ${bytesMax}`);
}

export async function sendRequest(caller: Caller, request: Request): Promise<Response> {
  const exchange = exchangeOf(request.RequestTypeData);
  const { server } = caller;
  checkRequest(request, server.limits.messageBytesMax);
  const id = request.RequestID === '' ? randomUUID() : request.RequestID;
  const isQuery = request.RequestTypeData === RequestType.query;
  const nowMs = server.core.clock.now();
  if (isQuery && request.CacheKey !== '') {
    const cached = server.cache.get(request.Channel, request.CacheKey, nowMs);
    if (cached !== undefined) return { ...cached, RequestID: id, CacheHit: true };
  }
  caller.sent(isQuery ? 'queries' : 'commands', request.Channel, request.ClientID);
  const headers = headersOf({ tags: request.Tags, metadata: request.Metadata, clientId: request.ClientID });
  const properties = { ...propertiesOf(id, headers, { persistent: false, nowMs }), correlationId: id };
  const sent = caller.core.request(
    exchange,
    request.Channel,
    { body: request.Body, properties },
    {
      timeoutMs: request.Timeout,
    },
  );
  const reply = await sent.reply;
  if (reply === undefined) fail(Texts.requestTimeout);
  const response = responseOf(reply, id);
  if (!isQuery) return { ...response, Metadata: '', Body: none, Tags: {}, CacheHit: false };
  if (request.CacheKey !== '')
    server.cache.put(request.Channel, request.CacheKey, response, request.CacheTTL * 1000, nowMs);
  return response;
}

/** A reply as KubeMQ's Response; `ReplyChannel` is never shown to the requester. */
function responseOf(reply: Message, requestId: string): Response {
  const headers = reply.properties.headers;
  const executed = headerValue(headers, Header.executed);
  return {
    ClientID: text(headers, Header.clientId),
    RequestID: reply.properties.correlationId ?? requestId,
    ReplyChannel: '',
    Metadata: text(headers, Header.metadata),
    Body: reply.body,
    CacheHit: false,
    Timestamp: msToNs(reply.properties.timestamp),
    // A reply from another protocol, which knows no `Executed`, counts as executed.
    Executed: executed === undefined ? true : executed === true || executed === 'true',
    Error: text(headers, Header.error),
    Span: none,
    Tags: tagsOf(headers),
  };
}

/** KubeMQ's checks of a response (101, 102, 119, 108, 107, 117). */
function checkResponse(response: Response): void {
  if (response.ClientID === '') fail(Texts.clientIdEmpty);
  checkChannel(response.ReplyChannel, { wildcards: false });
  if (response.RequestID === '') fail(Texts.requestIdEmpty);
}

/** A responder's answer: published to its reply channel; nobody waiting is no error, as in KubeMQ. */
export function sendResponse(caller: Caller, response: Response): void {
  checkResponse(response);
  const headers = headersOf({
    tags: response.Tags,
    metadata: response.Metadata,
    clientId: response.ClientID,
  });
  headers[Header.executed] = response.Executed;
  if (response.Error !== '') headers[Header.error] = response.Error;
  const timestampMs =
    BigInt(response.Timestamp) > 0n ? nsToMs(response.Timestamp) : caller.server.core.clock.now();
  const properties = {
    ...propertiesOf(response.RequestID, headers, { persistent: false, nowMs: timestampMs }),
    correlationId: response.RequestID,
  };
  caller.core.publish('', response.ReplyChannel, { body: response.Body, properties });
}

/** A delivered request as KubeMQ's Request, its `ReplyChannel` the reply address to answer to. */
function requestOf(message: Message, type: number): Request {
  const headers = message.properties.headers;
  return {
    RequestID: message.properties.correlationId ?? message.properties.messageId ?? '',
    RequestTypeData: type,
    ClientID: text(headers, Header.clientId),
    Channel: message.routingKey,
    Metadata: text(headers, Header.metadata),
    Body: message.body,
    ReplyChannel: message.properties.replyTo ?? '',
    Timeout: message.properties.expirationMs ?? 0,
    CacheKey: '',
    CacheTTL: 0,
    Span: none,
    Tags: tagsOf(headers),
  };
}

const commandOf = (message: Message) => requestOf(message, RequestType.command);
const queryOf = (message: Message) => requestOf(message, RequestType.query);

/** KubeMQ's checks of a requests subscription (207, 101, 102, 119, 108); wildcards are allowed. */
export function subscribeRequests(caller: Caller, request: Subscribe, sink: Sink<Request>): void {
  const type = request.SubscribeTypeData;
  if (type !== SubscribeType.commands && type !== SubscribeType.queries) fail(Texts.subscribeType);
  if (request.ClientID === '') fail(Texts.clientIdEmpty);
  checkChannel(request.Channel, { wildcards: true });
  const isCommands = type === SubscribeType.commands;
  const exchange = isCommands ? Exchanges.commands : Exchanges.queries;
  const queue = subscriptionQueue(
    caller,
    isCommands ? 'commands' : 'queries',
    exchange,
    request.Channel,
    request.Group,
  );
  caller.subscribe(isCommands ? 'commands' : 'queries', request.Channel, request.ClientID);
  startFeed({
    caller,
    queue,
    pattern: request.Channel,
    sink,
    convert: isCommands ? commandOf : queryOf,
  });
}
