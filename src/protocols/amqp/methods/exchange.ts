/**
 * Exchange class (40): declare (passive, durable, auto-delete, internal, `alternate-exchange`),
 * delete (if-unused), and RabbitMQ's exchange-to-exchange bind / unbind. An unknown exchange type is a
 * connection error 503 COMMAND_INVALID, as in RabbitMQ.
 */
import type { ExchangeType } from '../../../core/types.js';
import type { AmqpChannel, HandlerTable } from '../channel.js';
import type { ExchangeBind, ExchangeDeclare, ExchangeDelete, ExchangeUnbind } from '../codec/index.js';
import { ReplyCode } from '../codec/index.js';
import { connectionError } from '../errors.js';
import { toHeaders } from '../header-values.js';

const exchangeTypes: readonly string[] = ['direct', 'fanout', 'topic', 'headers'] satisfies ExchangeType[];

function declare(channel: AmqpChannel, f: ExchangeDeclare): void {
  if (f.passive) {
    if (f.exchange !== '') channel.core.checkExchange(f.exchange);
  } else {
    if (!exchangeTypes.includes(f.type)) {
      throw connectionError(ReplyCode.commandInvalid, `unknown exchange type '${f.type}'`);
    }
    channel.core.declareExchange(f.exchange, {
      type: f.type as ExchangeType,
      durable: f.durable,
      autoDelete: f.autoDelete,
      internal: f.internal,
      arguments: toHeaders(f.arguments),
    });
  }
  if (f.noWait) return;
  const ok = { name: 'exchange.declare-ok', fields: {} } as const;
  if (f.durable && !f.passive) channel.answerOnceDefined(ok, 'exchange.declare');
  else channel.send(ok);
}

function remove(channel: AmqpChannel, f: ExchangeDelete): void {
  channel.core.deleteExchange(f.exchange, { ifUnused: f.ifUnused });
  // A deletion told to the client stays deleted after a crash, as a declare stays declared.
  if (!f.noWait) channel.answerOnceDefined({ name: 'exchange.delete-ok', fields: {} }, 'exchange.delete');
}

function bind(channel: AmqpChannel, f: ExchangeBind): void {
  channel.core.bindExchange(f.destination, f.source, f.routingKey, toHeaders(f.arguments));
  if (!f.noWait) channel.answerOnceDefined({ name: 'exchange.bind-ok', fields: {} }, 'exchange.bind');
}

function unbind(channel: AmqpChannel, f: ExchangeUnbind): void {
  channel.core.unbindExchange(f.destination, f.source, f.routingKey, toHeaders(f.arguments));
  if (!f.noWait) channel.answerOnceDefined({ name: 'exchange.unbind-ok', fields: {} }, 'exchange.unbind');
}

export const exchangeHandlers: HandlerTable = {
  'exchange.declare': declare,
  'exchange.delete': remove,
  'exchange.bind': bind,
  'exchange.unbind': unbind,
};
