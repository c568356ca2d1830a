/**
 * The values a durable MQTT session stores (src/protocols/mqtt/model.ts): each marker kind reads back as
 * its own offset and as no other kind, over the whole offset range, and the packet id an offset gives
 * runs through every packet id once per 65,535 offsets. A restart reads these numbers back from the
 * session's log, so a marker read as the wrong kind would resend, release or drop the wrong message.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  derivedPacketId,
  pubrelAwaited,
  pubrelOwed,
  qos1Marker,
  qos1Offset,
  releasedMarker,
  releasedOffset,
  sentMarker,
  sentOffset,
  settleStoredMarker,
} from '../../src/protocols/mqtt/model.js';

/** The largest offset a marker can name (2^51 - 1). */
const offsetMax = 2 ** 51 - 1;
const offsets = [0, 1, 65_534, 65_535, 65_536, 2 ** 32, offsetMax];

test('each marker kind names its offset and is read as no other kind', () => {
  for (const offset of offsets) {
    const sent = sentMarker(offset);
    const released = releasedMarker(offset);
    const qos1 = qos1Marker(offset);
    assert.deepEqual(
      [sentOffset(sent), releasedOffset(sent), qos1Offset(sent)],
      [offset, undefined, undefined],
    );
    assert.deepEqual(
      [sentOffset(released), releasedOffset(released), qos1Offset(released)],
      [undefined, offset, undefined],
    );
    assert.deepEqual(
      [sentOffset(qos1), releasedOffset(qos1), qos1Offset(qos1)],
      [undefined, undefined, offset],
    );
    assert.ok(Number.isSafeInteger(qos1), 'stored as JSON, so a safe integer');
  }
  for (const plain of [pubrelOwed, pubrelAwaited, 0, 7]) {
    assert.deepEqual(
      [sentOffset(plain), releasedOffset(plain), qos1Offset(plain)],
      [undefined, undefined, undefined],
    );
  }
  assert.throws(() => qos1Marker(offsetMax + 1));
});

test('the packet id an offset gives runs 1 to 65535, consecutive offsets giving consecutive ids', () => {
  assert.equal(derivedPacketId(0), 1);
  assert.equal(derivedPacketId(65_534), 65_535);
  assert.equal(derivedPacketId(65_535), 1, 'offsets 65,535 apart share an id');
  assert.equal(derivedPacketId(offsetMax), (offsetMax % 65_535) + 1);
  for (const offset of offsets) {
    const id = derivedPacketId(offset);
    assert.ok(id >= 1 && id <= 65_535 && Number.isInteger(id));
  }
});

test('a start removes a QoS 1 marker whose message is gone, keeps one whose message is held', () => {
  const holds = (held: boolean) => () => held;
  assert.equal(settleStoredMarker(qos1Marker(5), holds(false)), null);
  assert.equal(settleStoredMarker(qos1Marker(5), holds(true)), undefined);
  assert.equal(settleStoredMarker(sentMarker(5), holds(false)), pubrelOwed);
  assert.equal(settleStoredMarker(releasedMarker(5), holds(false)), pubrelOwed);
  assert.equal(settleStoredMarker(pubrelOwed, holds(false)), undefined);
});
