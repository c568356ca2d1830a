/** What the rest of the broker imports from the KubeMQ front end. */

export { type KubemqLimits, kubemqLimitsDefault } from './limits.js';
export { kubemqGrpcListener, kubemqListeners, kubemqRestListener } from './listener.js';
