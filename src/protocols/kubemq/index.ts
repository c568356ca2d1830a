/** What the rest of the broker imports from the KubeMQ front end. */

export type { ChannelRow } from './activity.js';
export { type KubemqLimits, kubemqLimitsDefault } from './limits.js';
export { kubemqGrpcListener, kubemqListeners, kubemqRestListener } from './listener.js';
export { kubemqChannels } from './servers.js';
