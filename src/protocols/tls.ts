/**
 * TLS for every listener (node:tls). The server reads the certificate, key and CA once at start and
 * again on reload (SIGHUP, `Broker.reloadTls()`); listeners hold a `ListenerTls` and build their
 * servers from its material, and `followReloads` swaps a running server's context so that new
 * connections get the new certificate while open ones keep the session they have.
 *
 * Client certificates (`tlsClientAuth`): `none` asks for none; `request` asks, lets a client without
 * one in and refuses one whose certificate does not verify against the CA; `require` refuses a client
 * without a verified certificate. A verified certificate is exposed on the transport as `TlsState`
 * (subject CN, SANs) for the login to map onto a user.
 */
import { X509Certificate } from 'node:crypto';
import {
  createSecureContext,
  type PeerCertificate as NodePeerCertificate,
  type SecureContextOptions,
  type TLSSocket,
  type TlsOptions,
  type Server as TlsServer,
} from 'node:tls';
import type { Config, TlsClientAuth, TlsMinVersion } from '../config/schema.js';

/** What the broker serves: PEM bytes as read from the files, and the settings beside them. */
export interface TlsMaterial {
  /** The certificate chain, leaf first. */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** CAs a client certificate must chain to; also sent to complete the chain. */
  readonly ca: Buffer | undefined;
  readonly clientAuth: TlsClientAuth;
  readonly minVersion: TlsMinVersion;
  /** OpenSSL cipher list for TLS 1.2 and below, and TLS 1.3 suites; undefined keeps Node's defaults. */
  readonly ciphers: string | undefined;
}

/** The TLS material a listener serves, as it is now and as reloads change it. */
export interface ListenerTls {
  current(): TlsMaterial;
  /** Runs `listener` after each successful reload; returns a function that stops it. */
  onReload(listener: (material: TlsMaterial) => void): () => void;
}

/** One entry of a certificate's subject alternative names: `DNS`, `IP Address`, `email`, `URI`, … */
export interface SubjectAltName {
  readonly type: string;
  readonly value: string;
}

type NameFields = Readonly<Record<string, string | readonly string[]>>;

/** A client certificate that verified against the configured CA. */
export interface PeerCertificate {
  /** The subject's common name (the first, when it has several). */
  readonly commonName: string | undefined;
  readonly subjectAltNames: readonly SubjectAltName[];
  /** Subject and issuer fields as OpenSSL names them (`CN`, `O`, `OU`, `C`…); repeated fields as lists. */
  readonly subject: NameFields;
  readonly issuer: NameFields;
  readonly serialNumber: string;
  /** SHA-256 of the DER certificate, colon-separated hex as node:tls gives it. */
  readonly fingerprint256: string;
  readonly validFrom: string;
  readonly validTo: string;
  /** The certificate itself (DER), for anything the fields above do not say. */
  readonly der: Buffer;
}

/** What a TLS connection agreed on. */
export interface TlsState {
  /** `TLSv1.3`, `TLSv1.2`. */
  readonly protocol: string;
  readonly cipher: string;
  /** Present only when the client sent a certificate and it verified against the CA. */
  readonly peerCertificate: PeerCertificate | undefined;
}

/** The state of a TLS socket whose handshake is done. */
export function tlsStateOf(socket: TLSSocket): TlsState {
  const peer = socket.authorized ? socket.getPeerCertificate() : undefined;
  return {
    protocol: socket.getProtocol() ?? '',
    cipher: socket.getCipher()?.name ?? '',
    peerCertificate: peer === undefined || peer.raw === undefined ? undefined : peerCertificateOf(peer),
  };
}

/** Our view of a certificate node:tls has verified (gRPC's auth context gives node:tls's form). */
export function peerCertificateOf(cert: NodePeerCertificate): PeerCertificate {
  const cn = cert.subject?.CN as string | string[] | undefined;
  return {
    commonName: Array.isArray(cn) ? cn[0] : cn,
    subjectAltNames: parseSubjectAltNames(cert.subjectaltname ?? ''),
    subject: { ...(cert.subject as NameFields | undefined) },
    issuer: { ...(cert.issuer as NameFields | undefined) },
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    validFrom: cert.valid_from,
    validTo: cert.valid_to,
    der: cert.raw,
  };
}

/**
 * node:tls gives SANs as one string, `DNS:a.example, IP Address:127.0.0.1`; a value holding a comma
 * or a quote comes JSON-quoted (`DNS:"a,b"`), so the split must respect quotes.
 */
export function parseSubjectAltNames(text: string): SubjectAltName[] {
  const out: SubjectAltName[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon).trim();
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      const end = quotedEnd(text, colon + 1);
      value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      next = text.indexOf(',', end + 1);
    } else {
      next = text.indexOf(',', colon + 1);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    out.push({ type, value });
    if (next < 0) break;
    i = next + 1;
  }
  return out;
}

/** Index of the quote closing the JSON string that opens at `start`. */
function quotedEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return text.length - 1;
}

/** Which part of a certificate names its user (RabbitMQ's ssl_cert_login_from and its SAN settings). */
export type CertLoginSettings = Pick<Config, 'certLoginFrom' | 'certLoginSanType' | 'certLoginSanIndex'>;

const sanTypes: Readonly<Record<Config['certLoginSanType'], string>> = {
  dns: 'DNS',
  email: 'email',
  uri: 'URI',
  ip: 'IP Address',
};

/**
 * The subject as RFC 4514 writes a distinguished name: the RDNs last first, comma separated, values
 * escaped (`CN=alice,O=Acme` for a certificate made with `-subj /O=Acme/CN=alice`), as RabbitMQ
 * names the user of `ssl_cert_login_from = distinguished_name`.
 */
export function distinguishedName(cert: PeerCertificate): string {
  // node:crypto prints one RDN a line, in the certificate's order, values escaped as RFC 2253 says.
  return new X509Certificate(cert.der).subject.split('\n').reverse().join(',');
}

/** The user a verified certificate names under `settings`; undefined when it has no such part. */
export function certificateUser(cert: PeerCertificate, settings: CertLoginSettings): string | undefined {
  switch (settings.certLoginFrom) {
    case 'common_name':
      return cert.commonName === '' ? undefined : cert.commonName;
    case 'distinguished_name':
      return distinguishedName(cert);
    case 'subject_alternative_name': {
      const type = sanTypes[settings.certLoginSanType];
      const names = cert.subjectAltNames.filter((san) => san.type === type);
      return names[settings.certLoginSanIndex]?.value;
    }
  }
}

/** What a secure context is built from; also what a reload hands to a running server. */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca === undefined ? {} : { ca: material.ca }),
    minVersion: material.minVersion,
    ...(material.ciphers === undefined ? {} : { ciphers: material.ciphers }),
  };
}

/** Options for `tls.createServer` and `https.createServer`. */
export function tlsServerOptions(material: TlsMaterial, handshakeTimeoutMs: number): TlsOptions {
  return {
    ...secureContextOptions(material),
    requestCert: material.clientAuth !== 'none',
    rejectUnauthorized: material.clientAuth === 'require',
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/**
 * Whether a handshaken socket may go on: under `request`, a client that sent a certificate which
 * did not verify is refused (`require` refuses it in the handshake already).
 */
export function peerAdmitted(socket: TLSSocket, clientAuth: TlsClientAuth): boolean {
  if (clientAuth !== 'request' || socket.authorized) return true;
  const sent = socket.getPeerCertificate();
  return sent === undefined || sent.raw === undefined;
}

/** Swaps `server`'s certificate at every reload until the server closes. */
export function followReloads(server: TlsServer, tls: ListenerTls): void {
  const off = tls.onReload((material) => server.setSecureContext(secureContextOptions(material)));
  server.once('close', off);
}

/**
 * TLS material that can be replaced while listeners run. A replacement is checked by building a
 * secure context from it first (a key that does not match its certificate, unreadable PEM), so a
 * bad reload leaves the material in force unchanged.
 */
export class ReloadableTls implements ListenerTls {
  #material: TlsMaterial;
  readonly #listeners = new Set<(material: TlsMaterial) => void>();

  constructor(material: TlsMaterial) {
    createSecureContext(secureContextOptions(material));
    this.#material = material;
  }

  current(): TlsMaterial {
    return this.#material;
  }

  onReload(listener: (material: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Throws (and changes nothing) when `material` does not make a secure context. */
  replace(material: TlsMaterial): void {
    createSecureContext(secureContextOptions(material));
    this.#material = material;
    for (const listener of [...this.#listeners]) listener(material);
  }
}
