export { type MqttLimits, type MqttOptions, mqttLimitsDefault } from './limits.js';
export { mqttListener, mqttListeners, mqttWebSocketListener, webSocketPath } from './listener.js';
export { filterToPattern, keyToTopic, topicToKey } from './topics.js';
