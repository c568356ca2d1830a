/**
 * The broker's TLS material: the files named by tlsCertFile, tlsKeyFile and tlsCaFile, read at start
 * and again at each reload, with the TLS settings beside them. A file that cannot be read, or a key
 * that does not match its certificate, stops the start with one line, and fails a reload without
 * changing what is served.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { ReloadableTls, type TlsMaterial } from '../protocols/tls.js';

function readPem(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${setting} ${path} cannot be read: ${(err as Error).message}`);
  }
}

/** Reads the files the config names; undefined when no certificate is configured. */
export function readTlsMaterial(config: Readonly<Config>): TlsMaterial | undefined {
  if (config.tlsCertFile === '') return undefined;
  return {
    cert: readPem(config.tlsCertFile, 'tlsCertFile'),
    key: readPem(config.tlsKeyFile, 'tlsKeyFile'),
    ca: config.tlsCaFile === '' ? undefined : readPem(config.tlsCaFile, 'tlsCaFile'),
    clientAuth: config.tlsClientAuth,
    minVersion: config.tlsMinVersion,
    ciphers: config.tlsCiphers === '' ? undefined : config.tlsCiphers,
  };
}

/** The broker's reloadable TLS, or undefined without a certificate. */
export function loadTls(config: Readonly<Config>): ReloadableTls | undefined {
  const material = readTlsMaterial(config);
  if (material === undefined) return undefined;
  try {
    return new ReloadableTls(material);
  } catch (err) {
    throw new Error(`TLS certificate or key not usable: ${(err as Error).message}`);
  }
}
