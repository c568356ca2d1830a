/** The public face of core: what protocols, the admin API and the server import. */

export { ManualClock, systemClock } from '../shared/clock.js';
export type * from './api.js';
export { BrokerCore, type CoreFactories, type CoreOptions } from './broker.js';
export { coreLimitsDefault, resolveLimits } from './limits.js';
export { isReplyAddress, replyAddressPrefix, requestsPendingMax } from './requests.js';
export { splitWords, TopicMatcher } from './routing/index.js';
export { Session, SessionManager, sessionQueueName } from './sessions.js';
export type * from './types.js';
export { ownedBy, Vhost } from './vhost/vhost.js';
