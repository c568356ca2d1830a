export { type MqttLimits, type MqttOptions, mqttLimitsDefault } from './limits.js';
export {
  mqttAcceptor,
  mqttListener,
  mqttListeners,
  mqttSecureWebSocketListener,
  mqttsListener,
  mqttWebSocketListener,
  webSocketPath,
} from './listener.js';
export { filterToPattern, keyToTopic, topicToKey } from './topics.js';
