/**
 * SaslHandshake 0–1 and SaslAuthenticate 0–2: answered from the connection's SASL state (../sasl.ts).
 * On a port without SASL both answer ILLEGAL_SASL_STATE, as Kafka's do on a PLAINTEXT listener.
 */
import {
  ApiKey,
  type KafkaInput,
  type SaslAuthenticateRequest,
  type SaslAuthenticateResponse,
  type SaslHandshakeRequest,
  type SaslHandshakeResponse,
} from '../codec/index.js';
import type { ApiHandler, RequestContext } from '../context.js';
import { KafkaError } from '../errors.js';

export const saslHandshakeHandler: ApiHandler = {
  apiKey: ApiKey.SaslHandshake,
  versionMin: 0,
  versionMax: 1,
  handle(ctx: RequestContext, request: SaslHandshakeRequest): KafkaInput<SaslHandshakeResponse> {
    if (ctx.sasl === undefined) return { errorCode: KafkaError.illegalSaslState, mechanisms: [] };
    return ctx.sasl.handshake(ctx.apiVersion, request.mechanism);
  },
};

export const saslAuthenticateHandler: ApiHandler = {
  apiKey: ApiKey.SaslAuthenticate,
  versionMin: 0,
  versionMax: 2,
  async handle(
    ctx: RequestContext,
    request: SaslAuthenticateRequest,
  ): Promise<KafkaInput<SaslAuthenticateResponse>> {
    if (ctx.sasl === undefined) {
      return {
        errorCode: KafkaError.illegalSaslState,
        errorMessage: 'SaslAuthenticate request received after successful authentication',
      };
    }
    return ctx.sasl.authenticate(request.authBytes);
  },
};
