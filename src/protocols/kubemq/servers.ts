/**
 * The KubeMQ server each core's listeners share, and the channel rows the admin API reads from it.
 * Apart from listener.ts so that the admin API can ask without loading grpc-js and the parsed
 * kubemq.proto: a broker whose KubeMQ listeners are off never loads them.
 */
import type { CoreBroker } from '../../core/api.js';
import { PerCore } from '../per-core.js';
import type { ChannelRow } from './activity.js';
import type { KubemqServer } from './server.js';

export const kubemqServers = new PerCore<KubemqServer>((server) => server.close());

/** The KubeMQ channels operators see (`/api/kubemq/channels`); none while no KubeMQ listener runs. */
export function kubemqChannels(core: CoreBroker): ChannelRow[] {
  const server = kubemqServers.peek(core);
  return server === undefined ? [] : server.activity.rows(server.internal, server.vhost);
}
