/**
 * Malformed and protocol-violating MQTT 5 packets, sent as raw bytes: every one closes the connection
 * after DISCONNECT with the reason code the specification names (0x81 Malformed Packet, 0x82 Protocol
 * Error), before anything it carried takes effect. Property rules: MQTT 5.0 §2.2.2.2 and the "It is a
 * Protocol Error to include … more than once" of each property in §3.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  closeAll,
  connect,
  disconnectReason,
  inbox,
  type MqttTestBroker,
  type RawClient,
  rawClient,
  sleep,
  startMqttBroker,
} from '../../../testing/mqtt-harness.js';

let server: MqttTestBroker;
before(async () => {
  server = await startMqttBroker();
});
after(() => server.stop());

/** One packet: first byte, then the body parts (hex text or bytes); Remaining Length is worked out. */
function frame(first: number, ...parts: Array<string | number[]>): Buffer {
  const body = Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p.replaceAll(' ', ''), 'hex') : Buffer.from(p))),
  );
  assert.ok(body.length < 128, 'one-byte Remaining Length');
  return Buffer.concat([Buffer.from([first, body.length]), body]);
}

const utf8 = (text: string) => Buffer.from(text).toString('hex');
const str = (text: string) => `${Buffer.byteLength(text).toString(16).padStart(4, '0')}${utf8(text)}`;

let clients = 0;
async function connected(): Promise<RawClient> {
  const raw = await rawClient(server.port, 5);
  await raw.connect(`malformed-${clients++}`);
  return raw;
}

/** Sends `bytes` on a fresh v5 connection; the DISCONNECT reason it got before the close. */
async function reasonFor(bytes: Buffer): Promise<number | undefined> {
  const raw = await connected();
  raw.write(bytes);
  await raw.closed;
  return disconnectReason(raw.packets);
}

describe('MQTT 5 properties are bounded, checked per packet and read in order', () => {
  test('a PUBLISH whose Property Length ends inside a property is refused, not delivered shortened', async () => {
    const sub = await connect(server.url, { protocolVersion: 5 });
    try {
      await sub.subscribeAsync('bad/props', { qos: 1 });
      const raw = await connected();
      // Property Length 1 holding only the identifier of the Payload Format Indicator, then "payload".
      raw.write(frame(0x32, str('bad/props'), '1234', '01 01', utf8('payload')));
      await raw.closed;
      assert.equal(disconnectReason(raw.packets), 0x81);
      assert.equal(raw.packets.filter((p) => p.cmd === 'puback').length, 0, 'no PUBACK');
      await sleep(100);
      assert.deepEqual(inbox(sub).messages, [], 'nothing routed');
    } finally {
      await closeAll(sub);
    }
  });

  test('each malformed or forbidden property gets DISCONNECT with its reason code', async () => {
    const publish = (props: string) =>
      frame(
        0x32,
        str('t'),
        '0001',
        (props.replaceAll(' ', '').length / 2).toString(16).padStart(2, '0'),
        props,
        utf8('p'),
      );
    const cases: Array<[string, Buffer, number]> = [
      ['Content Type twice', publish(`03${str('a')} 03${str('b')}`), 0x82],
      ['Payload Format Indicator 2', publish('01 02'), 0x82],
      ['Reason String is not a PUBLISH property (§2.2.2.2)', publish(`1f${str('r')}`), 0x81],
      ['Session Expiry Interval is not a PUBLISH property', publish('11 00000001'), 0x81],
      ['an unknown identifier', publish('7e 00'), 0x81],
      ['Message Expiry Interval cut short', publish('02 0000'), 0x81],
      ['a User Property without its value', publish(`26${str('k')}`), 0x81],
      ['a Subscription Identifier from a client [MQTT-3.3.4-6]', publish('0b 01'), 0x82],
      ['a Response Topic with a wildcard [MQTT-3.3.2-14]', publish(`08${str('r/+')}`), 0x82],
      ['ill-formed UTF-8 in a User Property', publish(`26 0001 c3 ${str('v')}`), 0x81],
      ['SUBSCRIBE with Subscription Identifier 0', frame(0x82, '0001', '02 0b00', str('t'), '01'), 0x82],
      [
        'SUBSCRIBE with two Subscription Identifiers',
        frame(0x82, '0001', '04 0b01 0b02', str('t'), '01'),
        0x82,
      ],
      [
        'SUBSCRIBE with a non-minimal Subscription Identifier',
        frame(0x82, '0001', '03 0b8000', str('t'), '01'),
        0x81,
      ],
      ['SUBSCRIBE with Retain Handling 3', frame(0x82, '0001', '00', str('t'), '30'), 0x82],
      ['UNSUBSCRIBE with a Content Type', frame(0xa2, '0001', `04 03${str('x')}`, str('t')), 0x81],
      ['PUBACK with a reason code a PUBACK cannot carry', frame(0x40, '0001 ff'), 0x82],
      ['PUBACK with properties past its end', frame(0x40, '0001 00 05 1f00'), 0x81],
      ['PUBACK with a property not allowed on it', frame(0x40, '0001 00 02 0101'), 0x81],
      ['PUBREC with the Reason String twice', frame(0x50, '0001 00', `08 1f${str('a')} 1f${str('b')}`), 0x82],
      ['PUBREL with a reason code of PUBACK', frame(0x62, '0001 10'), 0x82],
      ['PUBCOMP with a byte after its properties', frame(0x70, '0001 00 00 00'), 0x81],
      ['DISCONNECT with a Session Expiry Interval cut short', frame(0xe0, '00 01 11'), 0x81],
      ['AUTH without an authentication method (§4.12)', frame(0xf0, ''), 0x82],
      [
        'a shared subscription without a filter [MQTT-4.8.2-2]',
        frame(0x82, '0001 00', str('$share/g/'), '00'),
        0x82,
      ],
    ];
    for (const [what, bytes, reason] of cases) assert.equal(await reasonFor(bytes), reason, what);
  });

  test('well-formed acknowledgements with properties are accepted', async () => {
    const raw = await connected();
    // PUBACK, reason 0x00, properties (11 bytes): a Reason String and a User Property.
    raw.write(frame(0x40, '0001 00', `0b 1f${str('r')} 26${str('k')}${str('v')}`));
    raw.write(frame(0x70, '0001 92'));
    raw.write(frame(0xc0));
    await raw.expect((p) => p.cmd === 'pingresp');
    assert.equal(raw.isClosed(), false);
    raw.end();
  });

  test('a DISCONNECT with a reason code a client may not send closes without an answer', async () => {
    const raw = await connected();
    raw.write(frame(0xe0, '8e'));
    await raw.closed;
    assert.deepEqual(
      raw.packets.map((p) => p.cmd),
      ['connack'],
    );
  });

  test('CONNECT with a property twice or Receive Maximum 0 is closed without a session', async () => {
    for (const props of ['05 2100 0a 2100 0a', '03 21 0000']) {
      const raw = await rawClient(server.port, 5);
      raw.write(frame(0x10, str('MQTT'), '05 02 003c', props, str('bad-connect')));
      await raw.closed;
      assert.deepEqual(raw.packets, [], props);
    }
    assert.equal(server.broker.client().session('bad-connect'), undefined);
  });
});

describe('CONNACK and the client Maximum Packet Size [MQTT-3.1.2-24]', () => {
  test('a CONNACK larger than the client allows is not sent: the connection closes', async () => {
    const raw = await rawClient(server.port, 5);
    // Maximum Packet Size 2: not even the shortest v5 CONNACK (5 bytes) fits.
    raw.write(frame(0x10, str('MQTT'), '05 02 003c', '05 27 00000002', str('tiny-max')));
    await raw.closed;
    assert.deepEqual(raw.packets, []);
    assert.equal(server.broker.client().session('tiny-max'), undefined, 'no session was made');
  });

  test('one that fits is sent', async () => {
    const raw = await rawClient(server.port, 5);
    const reply = (await raw.connect('fits-max', { properties: { maximumPacketSize: 64 } })) as {
      reasonCode?: number;
    };
    assert.equal(reply.reasonCode, 0);
    raw.end();
  });
});
