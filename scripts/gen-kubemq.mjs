#!/usr/bin/env node
/**
 * Generates the KubeMQ protobuf schema table src/protocols/kubemq/generated/schema.ts from
 * spec/kubemq/kubemq.proto (KubeMQ's own file, unchanged).
 *
 *   node scripts/gen-kubemq.mjs          write the file
 *
 * The output is data: every message's fields (name, number, kind, repeated, the message or enum a
 * field names), every enum's values and the service's RPCs, interpreted by
 * src/protocols/kubemq/protobuf.ts. The parser reads the proto3 subset kubemq.proto uses (messages,
 * enums nested or not, `repeated`, `map<string,string>`, scalar types, one service) and refuses
 * anything else, so a new construct in a future copy of the file fails here rather than at run time.
 * `renderAll(root)` is exported so the drift test can re-render in memory.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const outDir = 'src/protocols/kubemq/generated';
const specFile = 'spec/kubemq/kubemq.proto';

const scalarKinds = new Set(['string', 'bytes', 'bool', 'int32', 'int64', 'uint64']);

function tokenize(text) {
  const stripped = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  return stripped.match(/"[^"]*"|[A-Za-z_][\w.]*|\d+|[{}()<>;=,]/g) ?? [];
}

class Parser {
  constructor(tokens) {
    this.tokens = tokens;
    this.at = 0;
  }
  peek() {
    return this.tokens[this.at];
  }
  next() {
    const token = this.tokens[this.at++];
    if (token === undefined) throw new Error('gen-kubemq: unexpected end of kubemq.proto');
    return token;
  }
  expect(token) {
    const got = this.next();
    if (got !== token) throw new Error(`gen-kubemq: expected ${token}, got ${got} (token ${this.at})`);
  }
  skipStatement() {
    while (this.next() !== ';');
  }
}

function parseEnum(p, scope, enums) {
  const name = p.next();
  p.expect('{');
  const values = [];
  while (p.peek() !== '}') {
    const valueName = p.next();
    p.expect('=');
    values.push([valueName, Number(p.next())]);
    p.expect(';');
  }
  p.expect('}');
  enums.set(scope === '' ? name : `${scope}.${name}`, values);
}

function parseField(p, first, fields) {
  let repeated = false;
  let type = first;
  if (type === 'repeated') {
    repeated = true;
    type = p.next();
  }
  if (type === 'map') {
    p.expect('<');
    const key = p.next();
    p.expect(',');
    const value = p.next();
    p.expect('>');
    if (key !== 'string' || value !== 'string')
      throw new Error(`gen-kubemq: map<${key},${value}> unsupported`);
    type = 'map';
  }
  const name = p.next();
  p.expect('=');
  const number = Number(p.next());
  p.expect(';');
  fields.push({ name, number, type, repeated });
}

function parseMessage(p, messages, enums) {
  const name = p.next();
  p.expect('{');
  const fields = [];
  while (p.peek() !== '}') {
    const token = p.next();
    if (token === 'enum') parseEnum(p, name, enums);
    else if (token === 'message' || token === 'oneof' || token === 'option' || token === 'reserved')
      throw new Error(`gen-kubemq: ${token} inside message ${name} is not supported`);
    else parseField(p, token, fields);
  }
  p.expect('}');
  messages.set(name, fields);
}

function parseService(p, methods) {
  p.next();
  p.expect('{');
  while (p.peek() !== '}') {
    p.expect('rpc');
    const name = p.next();
    const side = () => {
      p.expect('(');
      let stream = false;
      let type = p.next();
      if (type === 'stream') {
        stream = true;
        type = p.next();
      }
      p.expect(')');
      return { type, stream };
    };
    const request = side();
    p.expect('returns');
    const response = side();
    p.expect('{');
    p.expect('}');
    if (p.peek() === ';') p.next();
    methods.push({ name, request, response });
  }
  p.expect('}');
}

/** The parsed proto: messages (name → fields), enums (qualified name → values), the service's RPCs. */
export function parseProto(text) {
  const p = new Parser(tokenize(text));
  const messages = new Map();
  const enums = new Map();
  const methods = [];
  let pkg = '';
  let service = '';
  while (p.peek() !== undefined) {
    const token = p.next();
    if (token === 'syntax' || token === 'option') p.skipStatement();
    else if (token === 'package') {
      pkg = p.next();
      p.expect(';');
    } else if (token === 'message') parseMessage(p, messages, enums);
    else if (token === 'enum') parseEnum(p, '', enums);
    else if (token === 'service') {
      service = p.peek();
      parseService(p, methods);
    } else throw new Error(`gen-kubemq: unexpected ${token} at the top of kubemq.proto`);
  }
  return { pkg, service, messages, enums, methods };
}

/** A field's kind and what it names: an enum (nested in its message first, as protoc resolves) or a message. */
function resolveField(proto, owner, field) {
  if (field.type === 'map') return { kind: 'map' };
  if (scalarKinds.has(field.type)) return { kind: field.type };
  if (proto.enums.has(`${owner}.${field.type}`)) return { kind: 'enum', names: `${owner}.${field.type}` };
  if (proto.enums.has(field.type)) return { kind: 'enum', names: field.type };
  if (proto.messages.has(field.type)) return { kind: 'message', names: field.type };
  throw new Error(`gen-kubemq: ${owner}.${field.name} has unknown type ${field.type}`);
}

function renderField(proto, owner, field) {
  const { kind, names } = resolveField(proto, owner, field);
  const parts = [`name: '${field.name}'`, `number: ${field.number}`, `kind: '${kind}'`];
  if (field.repeated) parts.push('repeated: true');
  if (kind === 'message') parts.push(`message: '${names}'`);
  if (kind === 'enum') parts.push(`enum: '${names}'`);
  return `      { ${parts.join(', ')} },`;
}

function renderSchema(proto) {
  const lines = [
    `// Generated by scripts/gen-kubemq.mjs from ${specFile}; do not edit.`,
    "import type { ProtoEnum, ProtoMessage, ProtoMethod } from '../protobuf.js';",
    '',
    `export const packageName = '${proto.pkg}';`,
    `export const serviceName = '${proto.pkg}.${proto.service}';`,
    '',
    '/** Every message of the proto, its fields in field-number order. */',
    'export const messages: Readonly<Record<string, ProtoMessage>> = {',
  ];
  for (const [name, fields] of proto.messages) {
    const sorted = [...fields].sort((a, b) => a.number - b.number);
    lines.push(`  ${name}: {`, `    name: '${name}',`);
    if (sorted.length === 0) lines.push('    fields: [],');
    else {
      lines.push('    fields: [');
      for (const field of sorted) lines.push(renderField(proto, name, field));
      lines.push('    ],');
    }
    lines.push('  },');
  }
  lines.push('};', '', '/** Every enum, nested ones under `<message>.<enum>`: value names and numbers. */');
  lines.push('export const enums: Readonly<Record<string, ProtoEnum>> = {');
  for (const [name, values] of proto.enums) {
    lines.push(`  ${name.includes('.') ? `'${name}'` : name}: {`);
    for (const [valueName, value] of values) lines.push(`    ${valueName}: ${value},`);
    lines.push('  },');
  }
  lines.push(
    '};',
    '',
    "/** The service's RPCs in declaration order. */",
    'export const methods: readonly ProtoMethod[] = [',
  );
  for (const m of proto.methods) {
    for (const side of [m.request, m.response]) {
      if (!proto.messages.has(side.type))
        throw new Error(`gen-kubemq: rpc ${m.name} names unknown ${side.type}`);
    }
    lines.push(
      '  {',
      `    name: '${m.name}',`,
      `    request: '${m.request.type}',`,
      `    requestStream: ${m.request.stream},`,
      `    response: '${m.response.type}',`,
      `    responseStream: ${m.response.stream},`,
      '  },',
    );
  }
  lines.push('];', '');
  return lines.join('\n');
}

/** Renders every generated file; returns a map from repo-relative path to contents. */
export function renderAll(root) {
  const proto = parseProto(readFileSync(join(root, specFile), 'utf8'));
  return new Map([[`${outDir}/schema.ts`, renderSchema(proto)]]);
}

function main() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const files = renderAll(root);
  mkdirSync(join(root, outDir), { recursive: true });
  for (const [path, text] of files) writeFileSync(join(root, path), text);
  console.log(`gen-kubemq: wrote ${files.size} file to ${outDir}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  if (!existsSync(join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), specFile))) {
    throw new Error(`gen-kubemq: ${specFile} not found`);
  }
  main();
}
