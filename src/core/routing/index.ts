/** Routing: the topic matcher and the exchange kinds. Pure; the vhost owns the exchanges themselves. */
export {
  type Binding,
  bindingId,
  createRouter,
  exchangeTypes,
  isExchangeType,
  type Router,
} from './exchange.js';
export {
  canonicalHeaders,
  compileHeadersRule,
  type HeadersRule,
  headersEqual,
  headersMatch,
  headersRuleMatches,
  headerValueEqual,
  parseXMatch,
  type XMatchMode,
  xMatchModes,
} from './headers.js';
export { splitWords, TopicMatcher } from './topic.js';
