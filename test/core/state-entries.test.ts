/**
 * The typed entries of every state log: each encodes to bytes that decode to the same entry and
 * encode again to the same bytes, and anything this version would not have written is refused.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  derivedStreamId,
  metadataStreamId,
  newStreamId,
  zeroStreamId,
} from '../../src/core/logs/stream-ids.js';
import { definitionsMachine } from '../../src/core/state/defs-entries.js';
import { groupMachine } from '../../src/core/state/group-entries.js';
import { decodeJson, encodeJson } from '../../src/core/state/json.js';
import { producerMachine } from '../../src/core/state/producer-entries.js';
import { retainedMachine } from '../../src/core/state/retained-entries.js';
import { sessionMachine } from '../../src/core/state/session-entries.js';
import type { StateMachine } from '../../src/core/state/state-log.js';
import { txnMachine } from '../../src/core/state/txn-entries.js';
import { TypedNumber } from '../../src/core/types.js';
import { isBrokerError } from '../../src/shared/errors.js';

const bytes = (...values: number[]) => new Uint8Array(values);
const args = {
  'x-max-length': 10,
  tag: bytes(1, 2),
  big: 2n ** 60n,
  when: new Date(5),
  s: new TypedNumber('int16', 7),
};
const binding = {
  source: 'ex',
  destination: 'q',
  destinationKind: 'queue',
  routingKey: 'a.#',
  args,
} as const;
const member = {
  id: 'm-1',
  instanceId: null,
  clientId: 'c',
  clientHost: '/127.0.0.1',
  sessionTimeoutMs: 10_000,
  rebalanceTimeoutMs: 30_000,
  protocols: [
    { name: 'range', metadata: bytes(0, 1, 255) },
    { name: 'roundrobin', metadata: bytes() },
  ],
  assignment: bytes(9, 9),
};
const membership = {
  generation: 4,
  protocolType: 'consumer',
  protocol: 'range',
  leader: 'm-1',
  rebalance: false,
  members: [member, { ...member, id: 'm-2', instanceId: 'static-2' }],
};

// biome-ignore lint/suspicious/noExplicitAny: one list of samples per machine, each of its own entry type
const samples: Array<[StateMachine<any, any>, unknown[]]> = [
  [
    definitionsMachine,
    [
      { type: 'vhost.put', vhost: '/' },
      { type: 'vhost.delete', vhost: 'ünï/cödé' },
      {
        type: 'exchange.put',
        vhost: '/',
        name: 'ex',
        options: { type: 'topic', durable: true, arguments: args },
      },
      { type: 'exchange.delete', vhost: '/', name: 'ex' },
      {
        type: 'queue.put',
        vhost: '/',
        name: 'q',
        options: {
          durable: true,
          kind: 'classic',
          messageTtlMs: 1.5,
          overflow: 'reject-publish',
          arguments: args,
        },
      },
      {
        type: 'queue.put',
        vhost: '/',
        name: 's',
        options: { kind: 'stream', partitions: 3, streamAgeMsMax: 60_000 },
      },
      { type: 'queue.delete', vhost: '/', name: 'q' },
      { type: 'binding.put', vhost: '/', binding },
      { type: 'binding.delete', vhost: '/', binding: { ...binding, destinationKind: 'exchange', args: {} } },
      {
        type: 'stream.put',
        vhost: '/',
        info: {
          name: 'orders',
          id: '4c1e2b7a-93d1-4f0e-8a55-0d2f6c9e1b34',
          partitions: 2,
          bytesMax: 1_000_000,
        },
      },
      { type: 'stream.put', vhost: '/', info: { name: 'plain', id: newStreamId(), partitions: 1 } },
      { type: 'stream.delete', vhost: '/', name: 'orders' },
      {
        type: 'user.put',
        name: 'alice',
        user: { salt: 'c2FsdA==', hash: 'aGFzaA==', cost: 16_384, tags: ['a', 'b'] },
      },
      { type: 'user.delete', name: 'alice' },
      { type: 'users.seeded' },
      { type: 'defaultUser.applied' },
    ],
  ],
  [
    groupMachine,
    [
      {
        type: 'offset.commit',
        stream: 'a/b',
        partition: 3,
        offset: { offset: -1, metadata: '', committedAt: 5 },
      },
      {
        type: 'offset.commit',
        stream: 's',
        partition: 0,
        offset: { offset: 2 ** 40, metadata: 'm', committedAt: 1.5, leaderEpoch: 7 },
      },
      { type: 'offsets.clear' },
      { type: 'offsets.dropStream', stream: 's' },
      { type: 'offset.delete', stream: 's', partition: 3 },
      { type: 'offsets.expire', before: 1_700_000_000_000 },
      { type: 'membership.put', membership },
      { type: 'membership.put', membership: { ...membership, members: [] }, emptiedAt: 42 },
      {
        type: 'membership.put',
        membership: { ...membership, protocolType: null, protocol: null, leader: null, members: [] },
      },
      { type: 'membership.put', membership: { ...membership, leader: null, coordinator: 'consumer' } },
      { type: 'membership.clear' },
      { type: 'share.config', name: 'share.auto.offset.reset', value: 'earliest' },
      { type: 'share.config', name: 'share.isolation.level', value: null },
      {
        type: 'share.snapshot',
        partition: {
          stream: 's',
          partition: 2,
          startOffset: 10,
          endOffset: 20,
          records: [
            { first: 10, last: 12, deliveries: 2, done: false },
            { first: 15, last: 15, deliveries: 1, done: true },
          ],
        },
      },
      {
        type: 'share.update',
        partition: { stream: 's', partition: 2, startOffset: 13, endOffset: 21, records: [] },
      },
      { type: 'share.clear' },
    ],
  ],
  [
    sessionMachine,
    [
      { type: 'connected', expiryMs: null },
      { type: 'connected', expiryMs: 3_600_000 },
      { type: 'disconnected', at: 1_700_000_000_000, expiryMs: 0 },
      {
        type: 'subscribed',
        subscription: { exchange: 'amq.topic', pattern: 'a.*.#', options: { qos: 1, nl: true } },
      },
      { type: 'unsubscribed', exchange: 'amq.topic', pattern: 'a.*.#' },
      {
        type: 'group.subscribed',
        subscription: { group: 'g', exchange: 'amq.topic', pattern: '#', options: { filter: '#' } },
      },
      { type: 'group.unsubscribed', group: 'g', exchange: 'amq.topic', pattern: '#' },
      {
        type: 'markers',
        set: [
          [1, -1],
          [65535, -2],
        ],
        clear: [7, 8],
      },
    ],
  ],
  [
    retainedMachine,
    [
      { type: 'set', message: { key: 'a.b', body: bytes(1, 2, 3), properties: {} } },
      {
        type: 'set',
        message: {
          key: '',
          body: bytes(),
          properties: {
            contentType: 'text/plain',
            headers: [
              ['a', 1],
              ['a', new TypedNumber('int16', 7)],
              ['b', bytes(5)],
            ],
            persistent: true,
            priority: 3,
            timestamp: 9,
            qos: 2,
            retain: true,
            expiresAtMs: 1_700_000_000_000,
            correlationData: bytes(1, 2),
          },
        },
      },
      { type: 'clear', key: 'a.b' },
    ],
  ],
  [
    producerMachine,
    [
      { type: 'producer', producerId: 1000, epoch: 0 },
      {
        type: 'batch',
        producerId: 1000,
        epoch: 2,
        stream: 'orders',
        partition: 1,
        firstSeq: 5,
        lastSeq: 9,
        baseOffset: 40,
      },
      { type: 'stream.forget', stream: 'orders' },
      { type: 'covered', stream: 't', partition: 2, offset: 1_000_000 },
      {
        type: 'sequence',
        producerId: 1001,
        stream: 't',
        partition: 0,
        state: {
          epoch: 1,
          lastSeq: 0x7fffffff,
          recent: [
            [0, 4, 10],
            [5, 0x7fffffff, 15],
          ],
        },
      },
    ],
  ],
  [
    txnMachine,
    [
      { type: 'producer', id: 'tx-1', producerId: 1000, epoch: 0, timeoutMs: 60_000, at: 1 },
      { type: 'producer', id: 'tx-ünï', producerId: 1001, epoch: 3, timeoutMs: 1000, at: 2 },
      {
        type: 'partitions',
        id: 'tx-1',
        partitions: [
          { stream: 'orders', partition: 0, firstOffset: 10 },
          { stream: 'orders', partition: 3, firstOffset: 0 },
        ],
        at: 3,
      },
      { type: 'group', id: 'tx-1', group: 'g', at: 4 },
      {
        type: 'offsets',
        id: 'tx-1',
        offsets: [
          { group: 'g', stream: 'in', partition: 0, offset: { offset: 5, metadata: 'm', committedAt: 5 } },
          {
            group: 'g',
            stream: 'in',
            partition: 1,
            offset: { offset: 6, metadata: '', committedAt: 5, leaderEpoch: 2 },
          },
        ],
        at: 5,
      },
      {
        type: 'partitions',
        id: 'tx-ünï',
        partitions: [{ stream: 'orders', partition: 0, firstOffset: 11 }],
        at: 6,
      },
      { type: 'prepare', id: 'tx-ünï', commit: false, at: 7 },
      {
        type: 'complete',
        id: 'tx-ünï',
        commit: false,
        markers: [{ stream: 'orders', partition: 0, firstOffset: 11, markerOffset: 14 }],
        at: 8,
      },
      { type: 'remark', id: 'tx-ünï', stream: 'orders', partition: 0, from: 14, markerOffset: 13 },
      { type: 'mark', producerId: 1000, stream: 'orders', partition: 3, epoch: 1, markerOffset: 2 },
      { type: 'prepare', id: 'tx-1', commit: true, at: 9 },
      { type: 'aborted.trim', stream: 'orders', partition: 0, before: 12 },
      { type: 'start', stream: 'orders', partition: 0, offset: 12 },
      {
        type: 'registry',
        entry: {
          type: 'batch',
          producerId: 1000,
          epoch: 0,
          stream: 'orders',
          partition: 0,
          firstSeq: 0,
          lastSeq: 9,
          baseOffset: 10,
        },
      },
      {
        type: 'registry',
        entry: {
          type: 'sequence',
          producerId: 1001,
          stream: 'gone',
          partition: 1,
          state: { epoch: 3, lastSeq: 4, recent: [[0, 4, 7]] },
        },
      },
      { type: 'stream.forget', stream: 'gone' },
    ],
  ],
];

describe('state entries', () => {
  for (const [machine, entries] of samples) {
    test(`${machine.kind}: every entry round-trips, byte for byte`, () => {
      for (const entry of entries) {
        const encoded = encodeJson(machine.encode(entry));
        const decoded = machine.decode(decodeJson(encoded));
        assert.deepEqual(decoded, entry);
        assert.deepEqual(encodeJson(machine.encode(decoded)), encoded, JSON.stringify(machine.encode(entry)));
      }
    });

    test(`${machine.kind}: replaying a snapshot rebuilds the state`, () => {
      let state = machine.initial();
      for (const entry of entries) state = machine.apply(state, entry);
      let rebuilt = machine.initial();
      for (const entry of machine.snapshot(state)) {
        rebuilt = machine.apply(rebuilt, machine.decode(decodeJson(encodeJson(machine.encode(entry)))));
      }
      assert.deepEqual(rebuilt, state);
    });
  }

  test('a record of another encoding version, or not of this shape, is storage_corrupt', () => {
    const corrupt = (err: unknown) => isBrokerError(err, 'storage_corrupt');
    const good = encodeJson(groupMachine.encode({ type: 'offsets.clear' }));
    assert.throws(() => decodeJson(Uint8Array.from([2, ...good.subarray(1)])), corrupt);
    assert.throws(() => decodeJson(Uint8Array.from([1, 0x7b])), corrupt);
    assert.throws(() => groupMachine.decode({ t: 'offsets.unknown' }), corrupt);
    assert.throws(() => groupMachine.decode({ t: 'offset.commit', stream: 's', partition: -1 }), corrupt);
    assert.throws(
      () => definitionsMachine.decode({ t: 'exchange.put', vhost: '/', name: 'x', options: {} }),
      corrupt,
    );
    assert.throws(
      () =>
        definitionsMachine.decode({ t: 'queue.put', vhost: '/', name: 'x', options: { overflow: 'drop' } }),
      corrupt,
    );
    for (const id of ['', 'ORDERS', zeroStreamId, metadataStreamId, '4C1E2B7A-93D1-4F0E-8A55-0D2F6C9E1B34'])
      assert.throws(
        () => definitionsMachine.decode({ t: 'stream.put', vhost: '/', name: 's', id, partitions: 1 }),
        corrupt,
        id,
      );
    assert.throws(() => sessionMachine.decode({ t: 'markers', set: [[1]], clear: [] }), corrupt);
    assert.throws(
      () => retainedMachine.decode({ t: 'set', key: 'k', body: 'AA==', properties: [] }),
      corrupt,
    );
    assert.throws(() => producerMachine.decode(null), corrupt);
    assert.throws(
      () => txnMachine.decode({ t: 'partitions', id: 'x', partitions: [['s', 0]], at: 1 }),
      corrupt,
    );
  });

  // A definition of an older build has no id: it opens with the id that build showed (derived from
  // vhost and name, pinned here), so ids clients cached across the upgrade stay valid.
  test('definitions: a stream stored without an id gets the id older builds derived for it', () => {
    const old = { t: 'stream.put', vhost: '/', name: 'orders', partitions: 3 };
    const entry = definitionsMachine.decode(old);
    assert.equal(entry.type, 'stream.put');
    const { info } = entry as { info: { id: string } };
    assert.equal(info.id, '7003fa17-274f-87fd-a37b-24c5155d95f4');
    assert.equal(info.id, derivedStreamId('/', 'orders'));
    assert.notEqual(derivedStreamId('other', 'orders'), info.id);
    // Written again (a snapshot), the id is stored and read back as it is.
    const again = definitionsMachine.decode(decodeJson(encodeJson(definitionsMachine.encode(entry))));
    assert.deepEqual(again, entry);
    assert.equal((definitionsMachine.encode(entry) as { id: string }).id, info.id);
  });

  test('newStreamId: version 4, never reserved, never a base64 form starting with -', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = newStreamId();
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.ok(!/^f[89ab]/.test(id), id);
      seen.add(id);
    }
    assert.equal(seen.size, 2000);
  });
});
