// The decode stage: what Go's JSON decoder does to a request body when the apiserver
// unmarshals it into the kind's struct. Values of the wrong JSON type are a 400 ("json:
// cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string");
// fields the schema does not know are dropped, never stored, and reported per the request's
// fieldValidation (Ignore, Warn: a Warning header each, the default; Strict: a 400); null
// fields are dropped as Go leaves them unset. Everything after this stage (admission,
// defaulting, validation, storage) may rely on the types. Bodies nested deeper than Go's
// decoder allows are refused before parsing.
import type { KObject } from '../../api/registry.js';
import { hasOwn, isPlainObject } from '../../api/object.js';
import { StatusError, badRequest, invalid } from '../../api/status.js';

import { ARRAY, MAP, loadModels, type Models } from './schema.js';

let models: Models | undefined;

/** Loads the schemas; the apiserver awaits this once before serving. */
export async function loadDecoder(): Promise<void> {
  models ??= await loadModels();
}

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

/** The fieldValidation query parameter (Warn when absent), 422 for anything else, as upstream. */
export function fieldValidationOf(q: URLSearchParams, optionsKind: string): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Ignore' || v === 'Warn' || v === 'Strict') return v;
  throw new StatusError(
    invalid(
      optionsKind,
      '',
      [{ type: 'FieldValueNotSupported', field: 'fieldValidation', message: `fieldValidation: Unsupported value: ${JSON.stringify(v)}: supported values: "", "Ignore", "Strict", "Warn"` }],
      'meta.k8s.io',
    ),
  );
}

/** Go's encoding/json refuses documents nested deeper than this. */
export const MAX_JSON_DEPTH = 10_000;

/** Refuses a JSON text nested deeper than MAX_JSON_DEPTH (one pass over the bytes, strings skipped). */
export function checkJsonDepth(buf: Buffer | string): void {
  const b = typeof buf === 'string' ? Buffer.from(buf) : buf;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) throw new StatusError(badRequest(`json: exceeded max depth of ${MAX_JSON_DEPTH}`));
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

/** The same limit for a document that did not come as JSON text (YAML). */
export function checkValueDepth(v: unknown): void {
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    if (d > MAX_JSON_DEPTH) throw new StatusError(badRequest(`json: exceeded max depth of ${MAX_JSON_DEPTH}`));
    for (const y of Array.isArray(x) ? x : Object.values(x)) if (typeof y === 'object' && y !== null) stack.push([y, d + 1]);
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface Ctx {
  m: Models;
  unknown: string[];
  /** Prefix for type errors: `Pod in version "v1" cannot be handled as a Pod: `. */
  prefix: string;
}

function jsonTypeOf(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v; // string, number, object
}

/** Go's name for a model's struct ("V1ObjectMeta" -> "ObjectMeta"). */
function structName(model: string): string {
  return model.replace(/^(?:Core|Discovery|Events|Apps|Batch|Policy|Autoscaling|Coordination)?V\d+(?:beta\d+|alpha\d+)?/, '');
}

function goType(t: string, f: string | undefined): string {
  const arr = ARRAY.exec(t);
  if (arr) return `[]${goType(arr[1]!, f)}`;
  const map = MAP.exec(t);
  if (map) return `map[string]${goType(map[1]!, f)}`;
  switch (t) {
    case 'string':
      return f === 'byte' ? '[]uint8' : 'string';
    case 'number':
      return f === 'double' ? 'float64' : f === 'int32' ? 'int32' : 'int64';
    case 'boolean':
      return 'bool';
    case 'Date':
      return 'v1.Time';
    case 'IntOrString':
      return 'intstr.IntOrString';
  }
  return `v1.${structName(t)}`;
}

function typeError(ctx: Ctx, v: unknown, t: string, f: string | undefined, struct: string, goPath: string): StatusError {
  const value = typeof v === 'number' && !Number.isInteger(v) ? `number ${v}` : jsonTypeOf(v);
  const where = struct ? `Go struct field ${struct}.${goPath}` : 'Go value';
  return new StatusError(badRequest(`${ctx.prefix}json: cannot unmarshal ${value} into ${where} of type ${goType(t, f)}`));
}

// Walks v as type t, dropping unknown and null fields of structs in place.
function walk(ctx: Ctx, v: unknown, t: string, f: string | undefined, path: string, struct: string, goPath: string): void {
  if (v === null || v === undefined) return;
  const arr = ARRAY.exec(t);
  if (arr) {
    if (!Array.isArray(v)) throw typeError(ctx, v, t, f, struct, goPath);
    for (let i = 0; i < v.length; i++) {
      if (v[i] === null && MODEL_NAME.test(arr[1]!)) v[i] = {};
      walk(ctx, v[i], arr[1]!, f, `${path}[${i}]`, struct, goPath);
    }
    return;
  }
  const map = MAP.exec(t);
  if (map) {
    if (!isPlainObject(v)) throw typeError(ctx, v, t, f, struct, goPath);
    for (const k of Object.keys(v)) {
      if (v[k] === null && map[1] === 'string') v[k] = '';
      walk(ctx, v[k], map[1]!, f, `${path}[${k}]`, struct, goPath);
    }
    return;
  }
  switch (t) {
    case 'string':
      if (typeof v !== 'string') throw typeError(ctx, v, t, f, struct, goPath);
      if (f === 'byte' && !BASE64.test(v)) throw new StatusError(badRequest(`${ctx.prefix}illegal base64 data at input byte ${firstBadBase64(v)}`));
      return;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(ctx, v, t, f, struct, goPath);
      if (f !== 'double' && !Number.isSafeInteger(v)) throw typeError(ctx, v, t, f, struct, goPath);
      if (f === 'int32' && (v > 2147483647 || v < -2147483648)) {
        throw new StatusError(badRequest(`${ctx.prefix}json: cannot unmarshal number ${v} into Go struct field ${struct}.${goPath} of type int32`));
      }
      return;
    case 'boolean':
      if (typeof v !== 'boolean') throw typeError(ctx, v, t, f, struct, goPath);
      return;
    case 'Date':
      if (typeof v !== 'string') throw typeError(ctx, v, t, f, struct, goPath);
      if (!RFC3339.test(v)) {
        throw new StatusError(badRequest(`${ctx.prefix}parsing time ${JSON.stringify(v)} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(v)} as "2006"`));
      }
      return;
    case 'IntOrString':
      if (typeof v === 'number') {
        if (!Number.isSafeInteger(v) || v > 2147483647 || v < -2147483648) throw typeError(ctx, v, t, f, struct, goPath);
        return;
      }
      if (typeof v !== 'string') throw typeError(ctx, v, t, f, struct, goPath);
      return;
    case 'any':
    case 'object':
      return;
  }
  const model = ctx.m.MODELS[t];
  if (!model) return; // a type the schema does not describe (MicroTime and the like): kept as sent
  if (!isPlainObject(v)) throw typeError(ctx, v, t, f, struct, goPath);
  const sname = structName(t);
  for (const k of Object.keys(v)) {
    const p = path ? `${path}.${k}` : k;
    const prop = hasOwn(model.p, k) ? model.p[k]! : undefined;
    if (!prop) {
      ctx.unknown.push(p);
      delete v[k];
      continue;
    }
    if (v[k] === null) {
      delete v[k];
      continue;
    }
    walk(ctx, v[k], prop.t, prop.f, p, sname, goPath ? `${goPath}.${k}` : k);
  }
}

const MODEL_NAME = /^[A-Z][A-Za-z0-9]+$/;

function firstBadBase64(s: string): number {
  const i = s.search(/[^A-Za-z0-9+/=]/);
  return i >= 0 ? i : s.length - (s.length % 4);
}

export interface DecodeOptions {
  /** The kind's schema key, "v1/Pod" or "apps/v1/Deployment". */
  gvk: string;
  mode: FieldValidation;
  /** Prefix of the error messages, e.g. `Pod in version "v1" cannot be handled as a Pod: `. */
  prefix: string;
  /** Prefix of strict errors (upstream names the kind only for create and update). */
  strictPrefix?: string;
}

/**
 * Decodes `obj` in place as the kind's struct. Returns the Warning texts (Warn mode);
 * throws a 400 StatusError for a type mismatch, or for unknown fields in Strict mode.
 */
export function decodeObject(obj: KObject, o: DecodeOptions): string[] {
  const m = models;
  if (!m) throw new Error('decodeObject before loadDecoder');
  const root = m.ROOTS[o.gvk];
  if (!root) return [];
  const ctx: Ctx = { m, unknown: [], prefix: o.prefix };
  walk(ctx, obj, root, undefined, '', '', '');
  if (ctx.unknown.length === 0 || o.mode === 'Ignore') return [];
  const list = ctx.unknown.map((f) => `unknown field ${JSON.stringify(f)}`);
  if (o.mode === 'Strict') throw new StatusError(badRequest(`${o.strictPrefix ?? ''}strict decoding error: ${list.join(', ')}`));
  return list;
}

/** The schema key of a resource's kind. */
export function gvkKey(group: string, version: string, kind: string): string {
  return group ? `${group}/${version}/${kind}` : `${version}/${kind}`;
}

/** One Warning header value per text, as upstream writes them (299, agent "-", quoted text). */
export function warningHeaders(texts: string[]): string[] {
  // Header values travel as bytes: UTF-8 text goes out as its bytes (latin1 chars here).
  return texts.map((t) => `299 - ${Buffer.from(JSON.stringify(t), 'utf8').toString('latin1')}`);
}
