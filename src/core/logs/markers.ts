/**
 * Transaction markers: the stream entry core writes to every partition a producer's transaction
 * touched when it ends (Kafka's control batches, KIP-98). Readers of committed data skip markers
 * and the entries of aborted transactions; a protocol that shows markers to its clients (Kafka Fetch)
 * converts them on the way out.
 */
import { corrupt } from '../state/json.js';

export interface TxnMarker {
  readonly producerId: number;
  readonly epoch: number;
  readonly commit: boolean;
}

/** Who wrote an entry, when its format says: a producer id, and whether inside a transaction. */
export interface EntryProducer {
  /** -1 when the format says no producer wrote it (Kafka's NO_PRODUCER_ID, a plain batch). */
  readonly producerId: number;
  readonly transactional: boolean;
  /**
   * An idempotent producer's numbering of the entry (Kafka's producer epoch, base sequence and the
   * offsets it covers), which the producer registry reads back from a partition's tail at start.
   */
  readonly sequence?: { readonly epoch: number; readonly first: number; readonly count: number };
}

const markerBytes = 12;
const markerVersion = 0;

export function encodeTxnMarker(marker: TxnMarker): Uint8Array {
  const bytes = new Uint8Array(markerBytes);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, markerVersion);
  view.setUint8(1, marker.commit ? 1 : 0);
  view.setBigInt64(2, BigInt(marker.producerId));
  view.setInt16(10, marker.epoch);
  return bytes;
}

export function decodeTxnMarker(payload: Uint8Array): TxnMarker {
  if (payload.length !== markerBytes || payload[0] !== markerVersion) throw corrupt('transaction marker');
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return {
    commit: view.getUint8(1) === 1,
    producerId: Number(view.getBigInt64(2)),
    epoch: view.getInt16(10),
  };
}
