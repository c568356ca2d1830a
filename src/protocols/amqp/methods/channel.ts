/**
 * Channel class (20): open, close handshakes, flow. RabbitMQ does not support flow active=false from
 * the client (it flow-controls publishers by blocking the connection instead): 540.
 */

import type { AmqpChannel, HandlerTable } from '../channel.js';
import type { ChannelFlow, ChannelOpen } from '../codec/index.js';
import { ReplyCode } from '../codec/index.js';
import { AmqpError, connectionError, limitRefused } from '../errors.js';

function open(channel: AmqpChannel, _fields: ChannelOpen): void {
  // A second channel.open arrives here only when the channel already exists.
  if (channel.opened)
    throw connectionError(ReplyCode.channelError, `second 'channel.open' on channel ${channel.number}`);
  // The user's max-channels; a refusal closes the connection (530), as RabbitMQ does.
  limitRefused(() => channel.conn.core?.openChannel());
  channel.opened = true;
  channel.send({ name: 'channel.open-ok', fields: { channelId: new Uint8Array(0) } });
}

function close(channel: AmqpChannel): void {
  channel.send({ name: 'channel.close-ok', fields: {} });
  channel.remove();
}

function closeOk(channel: AmqpChannel): void {
  // Only meaningful after our channel.close, which AmqpChannel handles while closing.
  throw connectionError(ReplyCode.channelError, `unexpected 'channel.close-ok' on channel ${channel.number}`);
}

function flow(channel: AmqpChannel, fields: ChannelFlow): void {
  if (!fields.active) throw new AmqpError(ReplyCode.notImplemented, 'active=false', true);
  channel.send({ name: 'channel.flow-ok', fields: { active: true } });
}

export const channelHandlers: HandlerTable = {
  'channel.open': open,
  'channel.close': close,
  'channel.close-ok': closeOk,
  'channel.flow': flow,
  'channel.flow-ok': () => {},
};
