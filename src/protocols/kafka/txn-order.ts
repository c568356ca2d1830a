/**
 * The order of one connection's requests about one transactional id. A transaction request
 * (AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn) is answered `Later`, once core has
 * taken it (durably, but for AddPartitionsToTxn, which is answered once applied), so the connection
 * goes on meanwhile with the requests of other transactional ids: their log entries then share one
 * write and one fdatasync (group commit) instead of each waiting for the one before. The next
 * request naming the same id — a transactional Produce, InitProducerId, another transaction request —
 * is handled only once that answer is in, exactly as if each request had waited for the one before;
 * and a request after a transactional Produce whose batch waits in core (for its partitions to be
 * durably in the transaction) is handled once that batch is appended, so an EndTxn pipelined right
 * behind it ends a transaction that holds it. Core answers a transactional batch only once the
 * AddPartitionsToTxn that let it in is durable, and appends it before that only where a restart would
 * find it if a crash took the entry (src/core/transactions.ts, `adding`): records of a transaction the
 * coordinator never heard of are aborted at start, never read as committed.
 */
import { ApiKey } from './codec/index.js';

/** What a request has to do with transactions: the id it names, and whether its answer is waited for. */
export interface TxnRequest {
  readonly id: string;
  /**
   * The request changes the transaction: later requests of the id wait for its answer. Otherwise
   * they wait only for what it left to do after its handler returned (`Later.applied`).
   */
  readonly ordersLater: boolean;
}

/** The transactional id a request names, if any. Idempotent and plain Produce name none. */
export function txnRequestOf(apiKey: number, request: object): TxnRequest | undefined {
  const fields = request as {
    transactionalId?: unknown;
    v3AndBelowTransactionalId?: unknown;
    transactions?: ReadonlyArray<{ transactionalId: string; verifyOnly: boolean }>;
  };
  switch (apiKey) {
    case ApiKey.AddPartitionsToTxn: {
      const batched = fields.transactions ?? [];
      if (batched.length === 0) return ofId(fields.v3AndBelowTransactionalId, true);
      // v4+ (a partition leader's): one transaction is kept in order with its id's other requests, a
      // verification without holding them up; a request of several is not ordered.
      const [only] = batched;
      return batched.length === 1 && only !== undefined
        ? ofId(only.transactionalId, !only.verifyOnly)
        : undefined;
    }
    case ApiKey.AddOffsetsToTxn:
    case ApiKey.TxnOffsetCommit:
    case ApiKey.EndTxn:
      return ofId(fields.transactionalId, true);
    case ApiKey.Produce:
    case ApiKey.InitProducerId:
      return ofId(fields.transactionalId, false);
    default:
      return undefined;
  }
}

function ofId(id: unknown, ordersLater: boolean): TxnRequest | undefined {
  return typeof id === 'string' ? { id, ordersLater } : undefined;
}

/** Transactional ids whose last transaction request is not answered yet, per connection. */
export class TxnOrder {
  readonly #pending = new Map<string, Promise<unknown>>();

  /** Settles once the id's unanswered transaction request is answered; undefined when none is. */
  before(id: string): Promise<unknown> | undefined {
    return this.#pending.get(id);
  }

  /** `answer` is the id's latest transaction request's answer to come. */
  track(id: string, answer: Promise<unknown>): void {
    const settled = answer.then(
      () => undefined,
      () => undefined,
    );
    this.#pending.set(id, settled);
    void settled.then(() => {
      if (this.#pending.get(id) === settled) this.#pending.delete(id);
    });
  }
}
