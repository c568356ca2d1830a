import type { ConsumerRow, LiveConnection, MeteredKind, MeterRow, TotalSample } from '../views.js';

export interface OperatorCommandSpecs {
  /** The vhost's live connections that described themselves at `connection.open`. */
  'connection.list': { in: object; out: LiveConnection[] };
  /** Closes the connection of the vhost named `name`; false when there is none. */
  'connection.kill': { in: { name: string; reason: string }; out: boolean };
  'consumer.list': { in: object; out: ConsumerRow[] };
  /**
   * Message counters and their rates over the last sampling interval: of the caller's vhost's queues,
   * exchanges or connections, of the vhost itself, or of the broker (`total`).
   */
  'meters.read': {
    /** Of queues or exchanges, only these (a page of a listing); objects never counted are left out. */
    in: { objects: MeteredKind | 'total'; names?: readonly string[] };
    out: MeterRow[];
  };
  /** The broker totals' recent samples, oldest first. */
  'meters.samples': { in: object; out: readonly TotalSample[] };
  /**
   * `count` publishes of the caller's connection were confirmed to their publisher (AMQP's basic.ack
   * on a confirm channel): counted as RabbitMQ's `confirm` by ./meters.ts, nothing else is done.
   */
  'meters.confirm': { in: { count: number; channel?: number }; out: void };
}

export const operatorQueryKinds = [
  'connection.list',
  'consumer.list',
  'meters.read',
  'meters.samples',
] as const satisfies ReadonlyArray<keyof OperatorCommandSpecs>;
