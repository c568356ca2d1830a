/**
 * `switchyard bench mqtt`'s two connections: MQTT 3.1.1 over node:net with mqtt-packet, a dependency of
 * the broker itself, so it is there in an installed package.
 */
import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { generate, type Packet, parser } from 'mqtt-packet';
import type { BenchPeers, BenchSettings } from './bench-peers.js';

const connectTimeoutMs = 10_000;

/** One MQTT 3.1.1 connection: packets out, a callback per packet in. */
class Peer {
  private readonly socket: Socket;

  private constructor(socket: Socket, onPacket: (packet: Packet) => void) {
    this.socket = socket;
    const p = parser({ protocolVersion: 4 });
    p.on('packet', onPacket);
    p.on('error', (err: Error) => socket.destroy(err));
    socket.on('data', (chunk: Buffer) => p.parse(chunk));
  }

  static open(o: BenchSettings, clientId: string, onPacket: (packet: Packet) => void): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: o.host, port: o.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => socket.destroy(new Error('no CONNACK in time')), connectTimeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(new Error(`mqtt://${o.host}:${o.port}: ${err.message}`));
      };
      socket.once('error', fail);
      const peer = new Peer(socket, (packet) => {
        if (packet.cmd !== 'connack') return onPacket(packet);
        clearTimeout(timer);
        if (packet.returnCode !== 0)
          return fail(new Error(`connection refused, return code ${packet.returnCode}`));
        socket.off('error', fail);
        resolve(peer);
      });
      peer.send({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId,
        clean: true,
        keepalive: 60,
        ...(o.user === undefined ? {} : { username: o.user, password: Buffer.from(o.password ?? '') }),
      });
    });
  }

  send(packet: Packet): boolean {
    return this.socket.write(generate(packet));
  }

  close(): void {
    this.send({ cmd: 'disconnect' });
    this.socket.end();
  }
}

export function mqttPeers(s: BenchSettings, topic: string): BenchPeers {
  const peers: Peer[] = [];
  return {
    async subscribe(onPayload) {
      let subscribed: () => void = () => {};
      const ready = new Promise<void>((resolve) => (subscribed = resolve));
      const sub = await Peer.open(s, `bench-sub-${process.pid}`, (packet) => {
        if (packet.cmd === 'suback') return subscribed();
        if (packet.cmd !== 'publish') return;
        if (packet.qos === 1) sub.send({ cmd: 'puback', messageId: packet.messageId! });
        onPayload(packet.payload as Buffer);
      });
      peers.push(sub);
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: s.qos }] });
      await ready;
    },
    async publisher() {
      const pub = await Peer.open(s, `bench-pub-${process.pid}`, () => {});
      peers.push(pub);
      let id = 0;
      return (payload) => {
        // Ids cycle below 65,536; the window keeps far fewer than that in flight.
        id = (id % 65_535) + 1;
        pub.send({ cmd: 'publish', topic, payload, qos: s.qos, retain: false, dup: false, messageId: id });
      };
    },
    close() {
      for (const peer of peers) peer.close();
    },
  };
}
