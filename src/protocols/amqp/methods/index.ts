/**
 * The methods every channel dispatches to (../channel.ts's `ChannelMethods`): one file per method
 * class, their tables joined here so that the channel imports none of them.
 */
import type { ChannelMethods } from '../channel.js';
import { basicHandlers, checkPublish, publishContent } from './basic.js';
import { channelHandlers } from './channel.js';
import { confirmHandlers } from './confirm.js';
import { exchangeHandlers } from './exchange.js';
import { queueHandlers } from './queue.js';
import { txHandlers } from './tx.js';

export const channelMethods: ChannelMethods = {
  handlers: {
    ...channelHandlers,
    ...exchangeHandlers,
    ...queueHandlers,
    ...basicHandlers,
    ...confirmHandlers,
    ...txHandlers,
  },
  checkPublish,
  publishContent,
};
