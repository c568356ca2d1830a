/**
 * Request and response headers (RequestHeader.json, ResponseHeader.json). Header versions follow
 * from the body's flexibility: request header v2 and response header v1 carry a tagged-field
 * section, and only in flexible body versions. Two exceptions: ControlledShutdown v0 uses request
 * header v0 (no ClientId), and the ApiVersions response always uses header v0 so that a client
 * that does not yet know the broker's versions can read it (KIP-511).
 */
import { KafkaCodecError, KafkaCodecReason } from './errors.js';
import { ApiKey, kafkaApiByKey } from './generated/index.js';
import { type KafkaReader, KafkaWriter } from './primitives.js';
import type { UnknownTaggedField } from './schema.js';
import { inRange } from './schema.js';

export type RequestHeaderVersion = 0 | 1 | 2;
export type ResponseHeaderVersion = 0 | 1;

export interface RequestHeader {
  requestApiKey: number;
  requestApiVersion: number;
  correlationId: number;
  /** Absent (null) in header v0. Always an int16-length string, even in header v2. */
  clientId: string | null;
  unknownTaggedFields?: UnknownTaggedField[];
}

export interface ResponseHeader {
  correlationId: number;
  unknownTaggedFields?: UnknownTaggedField[];
}

const controlledShutdownApiKey = 7;

export function requestHeaderVersion(apiKey: number, apiVersion: number): RequestHeaderVersion {
  if (apiKey === controlledShutdownApiKey && apiVersion === 0) return 0;
  // An API this codec does not know is read with header v1; its body is rejected anyway.
  const api = kafkaApiByKey.get(apiKey);
  return api !== undefined && inRange(api.request.flexibleVersions, apiVersion) ? 2 : 1;
}

export function responseHeaderVersion(apiKey: number, apiVersion: number): ResponseHeaderVersion {
  if (apiKey === ApiKey.ApiVersions) return 0;
  const api = kafkaApiByKey.get(apiKey);
  return api !== undefined && inRange(api.response.flexibleVersions, apiVersion) ? 1 : 0;
}

/** Reads the tagged-field section of a header; no header tag is defined yet, so all are kept raw. */
function readRawTaggedFields(r: KafkaReader): UnknownTaggedField[] {
  const count = r.readUvarint();
  if (count > r.remaining) {
    throw new KafkaCodecError(
      KafkaCodecReason.malformed,
      `${count} tagged fields, ${r.remaining} bytes remain`,
    );
  }
  const fields: UnknownTaggedField[] = [];
  for (let i = 0; i < count; i++) {
    const tag = r.readUvarint();
    fields.push({ tag, data: r.readRaw(r.readUvarint()) });
  }
  return fields;
}

function writeRawTaggedFields(w: KafkaWriter, fields: readonly UnknownTaggedField[] | undefined): void {
  const sorted = [...(fields ?? [])].sort((a, b) => a.tag - b.tag);
  w.writeUvarint(sorted.length);
  for (const f of sorted) {
    w.writeUvarint(f.tag);
    w.writeUvarint(f.data.length);
    w.writeRaw(f.data);
  }
}

/** Reads a request header; its version is decided by the api key and version it starts with. */
export function decodeRequestHeader(r: KafkaReader): RequestHeader {
  const requestApiKey = r.readInt16();
  const requestApiVersion = r.readInt16();
  const correlationId = r.readInt32();
  const version = requestHeaderVersion(requestApiKey, requestApiVersion);
  const header: RequestHeader = { requestApiKey, requestApiVersion, correlationId, clientId: null };
  if (version >= 1) header.clientId = r.readString(false);
  if (version >= 2) {
    const tagged = readRawTaggedFields(r);
    if (tagged.length > 0) header.unknownTaggedFields = tagged;
  }
  return header;
}

export function writeRequestHeader(w: KafkaWriter, header: RequestHeader): void {
  const version = requestHeaderVersion(header.requestApiKey, header.requestApiVersion);
  w.writeInt16(header.requestApiKey);
  w.writeInt16(header.requestApiVersion);
  w.writeInt32(header.correlationId);
  if (version >= 1) w.writeString(header.clientId, false);
  if (version >= 2) writeRawTaggedFields(w, header.unknownTaggedFields);
}

export function decodeResponseHeader(r: KafkaReader, version: ResponseHeaderVersion): ResponseHeader {
  const header: ResponseHeader = { correlationId: r.readInt32() };
  if (version >= 1) {
    const tagged = readRawTaggedFields(r);
    if (tagged.length > 0) header.unknownTaggedFields = tagged;
  }
  return header;
}

export function writeResponseHeader(
  w: KafkaWriter,
  header: ResponseHeader,
  version: ResponseHeaderVersion,
): void {
  w.writeInt32(header.correlationId);
  if (version >= 1) writeRawTaggedFields(w, header.unknownTaggedFields);
}

/** Builds a whole size-prefixed request frame: header, then the body written by `writeBody`. */
export function frameRequest(header: RequestHeader, writeBody: (w: KafkaWriter) => void): Uint8Array {
  const w = new KafkaWriter();
  w.writeInt32(0);
  writeRequestHeader(w, header);
  writeBody(w);
  w.setInt32At(0, w.length - 4);
  return w.finish();
}

/** Builds a whole size-prefixed response frame for a request with this api key and version. */
export function frameResponse(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  writeBody: (w: KafkaWriter) => void,
): Uint8Array {
  return responseWriter(apiKey, apiVersion, correlationId, writeBody).finish();
}

/**
 * The same frame as a list of pieces to write in order, with `RecordChunks` left where they are
 * rather than copied into the frame (Fetch answers).
 */
export function frameResponsePieces(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  writeBody: (w: KafkaWriter) => void,
): Uint8Array[] {
  return responseWriter(apiKey, apiVersion, correlationId, writeBody).pieces();
}

function responseWriter(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  writeBody: (w: KafkaWriter) => void,
): KafkaWriter {
  const w = new KafkaWriter();
  w.writeInt32(0);
  writeResponseHeader(w, { correlationId }, responseHeaderVersion(apiKey, apiVersion));
  writeBody(w);
  w.setInt32At(0, w.byteLength - 4);
  return w;
}
