/**
 * The MQTT 5 property reader and writer (src/protocols/mqtt/codec/properties.ts) against the property
 * table of MQTT 5.0 §2.2.2.2, byte by byte, plus round trips and random input.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import {
  encodeProperties,
  isPropertyFault,
  type Properties,
  type PropertyOwner,
  readProperties,
} from '../../src/protocols/mqtt/codec/properties.js';

const malformed = 0x81;
const protocolError = 0x82;

/** A block: Property Length (one byte here) then the given property bytes. */
function block(...bytes: number[]): Buffer {
  return Buffer.from([bytes.length, ...bytes]);
}

function faultOf(buf: Buffer, owner: PropertyOwner): number | undefined {
  const read = readProperties(buf, 0, owner);
  return isPropertyFault(read) ? read.reason : undefined;
}

function propertiesOf(buf: Buffer, owner: PropertyOwner): Properties {
  const read = readProperties(buf, 0, owner);
  assert.ok(!isPropertyFault(read), isPropertyFault(read) ? read.message : '');
  return read.properties;
}

/** One valid value of each property, as bytes after its identifier (§2.2.2.2, Table 2-4). */
const sample: { readonly [id: number]: number[] } = {
  1: [1],
  2: [0, 0, 0, 9],
  3: [0, 1, 0x74],
  8: [0, 1, 0x72],
  9: [0, 2, 0xff, 0x00],
  11: [5],
  17: [0, 0, 0, 9],
  18: [0, 1, 0x63],
  19: [0, 9],
  21: [0, 1, 0x6d],
  22: [0, 1, 0x64],
  23: [1],
  24: [0, 0, 0, 9],
  25: [1],
  26: [0, 1, 0x69],
  28: [0, 1, 0x73],
  31: [0, 1, 0x77],
  33: [0, 9],
  34: [0, 9],
  35: [0, 9],
  36: [1],
  37: [1],
  38: [0, 1, 0x6b, 0, 1, 0x76],
  39: [0, 0, 0, 9],
  40: [1],
  41: [1],
  42: [1],
};

const publishLike: PropertyOwner[] = ['publish', 'will'];
const acks: PropertyOwner[] = ['puback', 'pubrec', 'pubrel', 'pubcomp'];
const owners: PropertyOwner[] = [
  'connect',
  'will',
  'connack',
  'publish',
  ...acks,
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'disconnect',
  'auth',
];

/** Who may carry each identifier, written out again from the specification's table. */
const allowed: { readonly [id: number]: readonly PropertyOwner[] } = {
  1: publishLike,
  2: publishLike,
  3: publishLike,
  8: publishLike,
  9: publishLike,
  11: ['publish', 'subscribe'],
  17: ['connect', 'connack', 'disconnect'],
  18: ['connack'],
  19: ['connack'],
  21: ['connect', 'connack', 'auth'],
  22: ['connect', 'connack', 'auth'],
  23: ['connect'],
  24: ['will'],
  25: ['connect'],
  26: ['connack'],
  28: ['connack', 'disconnect'],
  31: ['connack', ...acks, 'suback', 'unsuback', 'disconnect', 'auth'],
  33: ['connect', 'connack'],
  34: ['connect', 'connack'],
  35: ['publish'],
  36: ['connack'],
  37: ['connack'],
  38: owners,
  39: ['connect', 'connack'],
  40: ['connack'],
  41: ['connack'],
  42: ['connack'],
};

describe('MQTT 5 property reader', () => {
  test('every identifier is accepted exactly on the packets Table 2-4 lists; elsewhere 0x81 (§2.2.2.2)', () => {
    for (const [id, value] of Object.entries(sample)) {
      for (const owner of owners) {
        const expected = allowed[Number(id)]!.includes(owner) ? undefined : malformed;
        assert.equal(
          faultOf(block(Number(id), ...value), owner),
          expected,
          `0x${Number(id).toString(16)} in ${owner}`,
        );
      }
    }
  });

  test('an identifier not in the table, including 0, is malformed', () => {
    for (const id of [0x00, 0x04, 0x0a, 0x14, 0x20, 0x2b, 0x7f])
      assert.equal(faultOf(block(id, 0), 'publish'), malformed);
  });

  test('a property cut short, or a block longer than the packet, is malformed', () => {
    // The case of the brief: Property Length 1 holding only the Payload Format Indicator's identifier.
    const publishRest = Buffer.from([0x01, 0x01, ...Buffer.from('payload')]);
    assert.equal(faultOf(publishRest, 'publish'), malformed);
    for (const [id, value] of Object.entries(sample)) {
      for (let cut = 0; cut < value.length; cut++) {
        const owner = allowed[Number(id)]![0]!;
        assert.equal(
          faultOf(block(Number(id), ...value.slice(0, cut)), owner),
          malformed,
          `0x${id} cut at ${cut}`,
        );
      }
    }
    assert.equal(faultOf(Buffer.from([5, 0x01, 0x01]), 'publish'), malformed, 'length past the end');
    const withPayloadAfter = Buffer.from([2, 0x01, 0x01, 0x70, 0x71]);
    assert.deepEqual(readProperties(withPayloadAfter, 0, 'publish'), {
      properties: { payloadFormatIndicator: 1 },
      end: 3,
    });
    assert.equal(faultOf(withPayloadAfter, 'publish'), undefined, 'bytes after the block are the payload');
    const beyondEnd = readProperties(Buffer.from([2, 0x01, 0x01, 0x70]), 0, 'publish', 2);
    assert.ok(
      isPropertyFault(beyondEnd) && beyondEnd.reason === malformed,
      'the packet ends before the block',
    );
  });

  test('every property but User Property given twice is a Protocol Error', () => {
    for (const [id, value] of Object.entries(sample)) {
      const owner = allowed[Number(id)]![0]!;
      const twice = faultOf(block(Number(id), ...value, Number(id), ...value), owner);
      assert.equal(twice, Number(id) === 0x26 ? undefined : protocolError, `0x${id} twice`);
    }
  });

  test('User Properties keep their order and repeated names [MQTT-3.3.2-18]', () => {
    const pair = (k: string, v: string) => [
      0x26,
      0,
      k.length,
      ...Buffer.from(k),
      0,
      v.length,
      ...Buffer.from(v),
    ];
    const props = propertiesOf(
      block(...pair('a', '1'), ...pair('b', 'two'), 0x01, 0, ...pair('a', '3')),
      'publish',
    );
    assert.deepEqual(props.userProperties, [
      ['a', '1'],
      ['b', 'two'],
      ['a', '3'],
    ]);
    assert.equal(props.payloadFormatIndicator, 0);
  });

  test('values the specification names a Protocol Error are refused with 0x82', () => {
    assert.equal(faultOf(block(0x21, 0, 0), 'connect'), protocolError, 'Receive Maximum 0');
    assert.equal(faultOf(block(0x27, 0, 0, 0, 0), 'connect'), protocolError, 'Maximum Packet Size 0');
    assert.equal(faultOf(block(0x0b, 0), 'subscribe'), protocolError, 'Subscription Identifier 0');
    assert.equal(faultOf(block(0x01, 2), 'publish'), protocolError, 'Payload Format Indicator 2');
    assert.equal(faultOf(block(0x17, 2), 'connect'), protocolError, 'Request Problem Information 2');
    assert.equal(faultOf(block(0x19, 7), 'connect'), protocolError, 'Request Response Information 7');
    assert.equal(
      faultOf(block(0x08, 0, 3, 0x61, 0x2f, 0x2b), 'publish'),
      protocolError,
      'Response Topic a/+',
    );
    assert.equal(faultOf(block(0x08, 0, 1, 0x23), 'will'), protocolError, 'Response Topic #');
  });

  test('strings must be well-formed UTF-8 without U+0000, Variable Byte Integers short and minimal', () => {
    assert.equal(faultOf(block(0x03, 0, 2, 0xc3, 0x28), 'publish'), malformed, 'ill-formed UTF-8');
    assert.equal(faultOf(block(0x03, 0, 3, 0xed, 0xa0, 0x80), 'publish'), malformed, 'a surrogate');
    assert.equal(faultOf(block(0x26, 0, 1, 0x00, 0, 0), 'publish'), malformed, 'U+0000 in a name');
    assert.equal(faultOf(block(0x0b, 0x80, 0x00), 'subscribe'), malformed, 'a two-byte 0');
    assert.equal(faultOf(block(0x0b, 0x81, 0x00), 'subscribe'), malformed, 'a two-byte 1');
    assert.equal(faultOf(block(0x0b, 0xff, 0xff, 0xff, 0xff, 0x01), 'subscribe'), malformed, 'five bytes');
    assert.deepEqual(
      propertiesOf(block(0x0b, 0xff, 0xff, 0xff, 0x7f), 'subscribe').subscriptionIdentifiers,
      [268_435_455],
    );
    assert.equal(faultOf(Buffer.from([0x80, 0x00]), 'publish'), malformed, 'a non-minimal Property Length');
  });
});

describe('MQTT 5 property writer', () => {
  const full: Properties = {
    payloadFormatIndicator: 1,
    messageExpiryInterval: 0xffff_fffe,
    contentType: 'text/plain; charset=utf-8',
    responseTopic: 'réponse/à',
    correlationData: Buffer.from([0, 0xff, 0x10]),
    subscriptionIdentifiers: [268_435_455],
    userProperties: [
      ['a', '1'],
      ['b', 'two'],
      ['a', '3'],
      ['', ''],
    ],
    topicAlias: 65_535,
  };

  test('what it writes reads back the same', () => {
    const bytes = encodeProperties(full);
    assert.deepEqual(readProperties(bytes, 0, 'publish'), { properties: full, end: bytes.length });
    const connack: Properties = {
      sessionExpiryInterval: 0,
      receiveMaximum: 20,
      maximumQoS: 1,
      retainAvailable: 0,
      maximumPacketSize: 1024,
      assignedClientIdentifier: 'auto-x',
      topicAliasMaximum: 10,
      reasonString: 'ok',
      wildcardSubscriptionAvailable: 1,
      subscriptionIdentifierAvailable: 1,
      sharedSubscriptionAvailable: 0,
      serverKeepAlive: 60,
      responseInformation: 'r',
      serverReference: 's',
      authenticationMethod: 'm',
      authenticationData: Buffer.from('d'),
    };
    const again = encodeProperties(connack);
    assert.deepEqual(readProperties(again, 0, 'connack'), { properties: connack, end: again.length });
  });

  test('several subscription identifiers (a server PUBLISH) are written one by one', () => {
    const bytes = encodeProperties({ subscriptionIdentifiers: [2, 3] });
    assert.deepEqual([...bytes], [4, 0x0b, 2, 0x0b, 3]);
  });

  test('random bytes never throw: a block is read or refused with 0x81 / 0x82, never past its end', () => {
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const base = encodeProperties(full);
    for (let round = 0; round < 5000; round++) {
      const bytes = Buffer.from(base);
      for (let k = 0; k < 1 + (round % 4); k++) bytes[rand() % bytes.length] = rand() % 256;
      const cut = bytes.subarray(0, rand() % (bytes.length + 1));
      const read = readProperties(cut, 0, owners[round % owners.length]!);
      if (isPropertyFault(read)) assert.ok(read.reason === malformed || read.reason === protocolError);
      else assert.ok(read.end <= cut.length);
    }
  });
});
