// Patch application for the three patch types kubectl sends: JSON merge patch (RFC 7386),
// JSON patch (RFC 6902) and strategic merge patch (with the built-in types' patchMergeKeys).
import type { KObject } from './registry.js';
import { hasOwn, isPlainObject as isObject, ownValue, setOwn, type JsonObject, type JsonValue } from './object.js';

/** Thrown for a malformed patch or a failed JSON-patch test; the apiserver maps it to 422/400. */
export class PatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatchError';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

// ---------------- RFC 7386 ----------------

export function applyMergePatch(original: unknown, patch: unknown): JsonValue {
  if (!isObject(patch)) return clone(patch);
  const target: JsonObject = isObject(original) ? clone(original) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else setOwn(target, k, applyMergePatch(ownValue(target, k), v));
  }
  return target;
}

// ---------------- RFC 6902 ----------------

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

function parsePointer(p: string): string[] {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new PatchError(`JSON pointer must be empty or start with a "/": ${JSON.stringify(p)}`);
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(arr: unknown[], tok: string, forAdd: boolean, path: string): number {
  if (forAdd && tok === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(tok)) throw new PatchError(`invalid array index ${JSON.stringify(tok)} in path ${JSON.stringify(path)}`);
  const i = Number(tok);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`Unable to access invalid index: ${i}`);
  return i;
}

function getAt(doc: JsonValue, toks: string[], path: string): JsonValue {
  let cur = doc;
  for (const t of toks) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false, path)];
    else if (isObject(cur) && hasOwn(cur, t)) cur = cur[t];
    else throw new PatchError(`missing value at path ${JSON.stringify(path)}`);
  }
  return cur;
}

function parentOf(doc: JsonValue, toks: string[], path: string): JsonValue {
  const parent = getAt(doc, toks.slice(0, -1), path);
  if (!Array.isArray(parent) && !isObject(parent)) throw new PatchError(`path ${JSON.stringify(path)} does not point into an object or array`);
  return parent;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

function addAt(doc: JsonValue, toks: string[], value: unknown, path: string): JsonValue {
  if (toks.length === 0) return clone(value);
  const parent = parentOf(doc, toks, path);
  const last = toks[toks.length - 1]!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true, path), 0, clone(value));
  else setOwn(parent, last, clone(value));
  return doc;
}

function removeAt(doc: JsonValue, toks: string[], path: string): JsonValue {
  if (toks.length === 0) throw new PatchError('cannot remove the whole document');
  const parent = parentOf(doc, toks, path);
  const last = toks[toks.length - 1]!;
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false, path), 1);
  else {
    if (!hasOwn(parent, last)) throw new PatchError(`Unable to remove nonexistent key: ${last}: missing value`);
    delete parent[last];
  }
  return doc;
}

export function applyJsonPatch(original: unknown, ops: unknown): JsonValue {
  if (!Array.isArray(ops)) throw new PatchError('json patch must be an array of operations');
  let doc: JsonValue = clone(original);
  for (const raw of ops) {
    if (!isObject(raw)) throw new PatchError('json patch operation must be an object');
    const op = raw as JsonPatchOp;
    if (typeof op.path !== 'string') throw new PatchError(`operation missing "path": ${JSON.stringify(raw)}`);
    const toks = parsePointer(op.path);
    switch (op.op) {
      case 'add':
        if (!('value' in raw)) throw new PatchError(`add operation does not apply: doc is missing value`);
        doc = addAt(doc, toks, op.value, op.path);
        break;
      case 'remove':
        doc = removeAt(doc, toks, op.path);
        break;
      case 'replace': {
        if (!('value' in raw)) throw new PatchError(`replace operation does not apply: doc is missing value`);
        if (toks.length === 0) {
          doc = clone(op.value);
          break;
        }
        const parent = parentOf(doc, toks, op.path);
        const last = toks[toks.length - 1]!;
        if (Array.isArray(parent)) parent[arrayIndex(parent, last, false, op.path)] = clone(op.value);
        else {
          if (!hasOwn(parent, last)) throw new PatchError(`replace operation does not apply: doc is missing key: ${op.path}: missing value`);
          setOwn(parent, last, clone(op.value));
        }
        break;
      }
      case 'move': {
        if (typeof op.from !== 'string') throw new PatchError('move operation missing "from"');
        const ftoks = parsePointer(op.from);
        if (op.path.startsWith(op.from + '/')) throw new PatchError('move operation cannot move a value into one of its children');
        const v = getAt(doc, ftoks, op.from);
        doc = removeAt(doc, ftoks, op.from);
        doc = addAt(doc, toks, v, op.path);
        break;
      }
      case 'copy': {
        if (typeof op.from !== 'string') throw new PatchError('copy operation missing "from"');
        const v = getAt(doc, parsePointer(op.from), op.from);
        doc = addAt(doc, toks, v, op.path);
        break;
      }
      case 'test': {
        let v: unknown;
        try {
          v = getAt(doc, toks, op.path);
        } catch {
          v = undefined;
        }
        if (!jsonEqual(v, op.value === undefined ? null : op.value)) throw new PatchError(`testing value ${op.path} failed: test failed`);
        break;
      }
      default:
        throw new PatchError(`Unexpected kind: ${String((raw as JsonObject).op)}`);
    }
  }
  return doc;
}

// ---------------- strategic merge patch ----------------

/** How a list field merges: by a key, as a set of primitives, or replaced wholesale (the default). */
export type ListStrategy = { type: 'key'; key: string } | { type: 'set' } | { type: 'replace' };

const byKey = (key: string): ListStrategy => ({ type: 'key', key });
const SET: ListStrategy = { type: 'set' };
const REPLACE: ListStrategy = { type: 'replace' };

// Per-field strategies from the patchStrategy/patchMergeKey tags of the core/apps/discovery types,
// matched on the trailing field names of the path (list indexes are not part of the path).
const containerLike = new Set(['containers', 'initContainers', 'ephemeralContainers']);

/** The strategy for the list at `path` (field names from the object root) of an object of `kind`. */
export function listStrategy(kind: string, path: string[]): ListStrategy {
  const n = path.length;
  const last = path[n - 1] ?? '';
  const parent = path[n - 2] ?? '';
  if (n === 2 && parent === 'metadata') {
    if (last === 'finalizers') return SET;
    if (last === 'ownerReferences') return byKey('uid');
    return REPLACE;
  }
  if (containerLike.has(last)) return byKey('name');
  if (containerLike.has(parent)) {
    switch (last) {
      case 'ports': return byKey('containerPort');
      case 'env': return byKey('name');
      case 'volumeMounts': return byKey('mountPath');
      case 'volumeDevices': return byKey('devicePath');
      default: return REPLACE;
    }
  }
  if (last === 'conditions' && path.includes('status')) return byKey('type');
  if (kind === 'Service' && n === 2 && parent === 'spec' && last === 'ports') return byKey('port');
  if (kind === 'Node') {
    if (n === 2 && parent === 'status' && last === 'addresses') return byKey('type');
    if (n === 2 && parent === 'spec' && last === 'podCIDRs') return SET;
    if (n === 2 && parent === 'status' && last === 'images') return REPLACE;
  }
  if (parent === 'spec' || parent === 'status') {
    // Pod spec (top-level in Pod, under template in workloads) and pod status.
    const podSpec = (kind === 'Pod' && n === 2) || (n >= 3 && path[n - 3] === 'template');
    if (podSpec && parent === 'spec') {
      switch (last) {
        case 'volumes': return byKey('name');
        case 'imagePullSecrets': return byKey('name');
        case 'hostAliases': return byKey('ip');
        case 'topologySpreadConstraints': return byKey('topologyKey');
        case 'schedulingGates': return byKey('name');
        case 'resourceClaims': return byKey('name');
      }
    }
    if (kind === 'Pod' && parent === 'status' && n === 2) {
      if (last === 'podIPs' || last === 'hostIPs') return byKey('ip');
    }
  }
  return REPLACE;
}

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

export function applyStrategicMergePatch(original: unknown, patch: unknown, kind: string): JsonObject {
  if (!isObject(patch)) throw new PatchError('strategic merge patch must be a JSON object');
  const result = mergeMap(isObject(original) ? clone(original) : {}, patch, kind, []);
  return result === undefined ? {} : result;
}

// Returns undefined when the map is deleted by `$patch: delete`.
function mergeMap(orig: JsonObject, patch: JsonObject, kind: string, path: string[]): JsonObject | undefined {
  const directive = ownValue(patch, DIRECTIVE);
  if (directive !== undefined) {
    if (directive === 'delete') return undefined;
    if (directive === 'replace') {
      const r = clone(patch);
      delete r[DIRECTIVE];
      return stripDirectives(r);
    }
    if (directive !== 'merge') throw new PatchError(`Unknown patch type: ${String(directive)} in map: ${JSON.stringify(patch)}`);
  }
  const out = orig;
  const retain = ownValue(patch, RETAIN_KEYS);
  for (const [k, v] of Object.entries(patch)) {
    if (k === DIRECTIVE || k === RETAIN_KEYS) continue;
    if (k.startsWith(SET_ORDER) || k.startsWith(DELETE_PRIMITIVE)) continue;
    if (v === null) {
      delete out[k];
      continue;
    }
    const sub = [...path, k];
    const cur = ownValue(out, k);
    if (isObject(v)) {
      const merged = mergeMap(isObject(cur) ? cur : {}, v, kind, sub);
      if (merged === undefined) delete out[k];
      else setOwn(out, k, merged);
    } else if (Array.isArray(v)) {
      setOwn(out, k, mergeList(Array.isArray(cur) ? cur : [], v, kind, sub));
    } else {
      setOwn(out, k, v);
    }
  }
  // Directives that reference lists, applied after the lists merged.
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith(DELETE_PRIMITIVE)) {
      const field = k.slice(DELETE_PRIMITIVE.length);
      if (!Array.isArray(v)) throw new PatchError(`${k} must be a list`);
      const cur = ownValue(out, field);
      if (Array.isArray(cur)) setOwn(out, field, cur.filter((x: unknown) => !v.some((d) => jsonEqual(d, x))));
    }
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith(SET_ORDER)) {
      const field = k.slice(SET_ORDER.length);
      if (!Array.isArray(v)) throw new PatchError(`${k} must be a list`);
      const cur = ownValue(out, field);
      if (Array.isArray(cur)) setOwn(out, field, orderList(cur, v, listStrategy(kind, [...path, field])));
    }
  }
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw new PatchError(`${RETAIN_KEYS} must be a list`);
    for (const key of Object.keys(out)) if (!retain.includes(key)) delete out[key];
  }
  return out;
}

function stripDirectives(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.filter((x) => !(isObject(x) && x[DIRECTIVE] !== undefined && Object.keys(x).length === 1)).map(stripDirectives);
  if (isObject(v)) {
    for (const k of Object.keys(v)) {
      if (k === DIRECTIVE || k === RETAIN_KEYS || k.startsWith(SET_ORDER) || k.startsWith(DELETE_PRIMITIVE)) delete v[k];
      else setOwn(v, k, stripDirectives(v[k]));
    }
  }
  return v;
}

function mergeList(orig: JsonValue[], patch: JsonValue[], kind: string, path: string[]): JsonValue[] {
  const strategy = listStrategy(kind, path);
  // A {$patch: replace} element replaces the whole list, for any strategy.
  if (patch.some((x) => isObject(x) && x[DIRECTIVE] === 'replace')) {
    return stripDirectives(clone(patch.filter((x) => !(isObject(x) && x[DIRECTIVE] === 'replace'))));
  }
  if (strategy.type === 'replace') return stripDirectives(clone(patch));
  if (strategy.type === 'set') {
    const out = [...orig];
    for (const x of patch) {
      if (isObject(x)) throw new PatchError(`cannot merge a map into the primitive list ${path.join('.')}`);
      if (!out.some((y) => jsonEqual(x, y))) out.push(x);
    }
    return out;
  }
  const key = strategy.key;
  const out = [...orig];
  for (const item of patch) {
    if (!isObject(item)) {
      throw new PatchError(`unable to merge a non-map item into the list ${path.join('.')} merged by key ${key}`);
    }
    const d = item[DIRECTIVE];
    if (!(key in item)) {
      throw new PatchError(`map: ${goMap(item)} does not contain declared merge key: ${key}`);
    }
    const idx = out.findIndex((x) => isObject(x) && jsonEqual(x[key], item[key]));
    if (d === 'delete') {
      // Upstream deletes every element carrying that key.
      for (let i = out.length - 1; i >= 0; i--) if (isObject(out[i]) && jsonEqual(out[i][key], item[key])) out.splice(i, 1);
      continue;
    }
    if (idx >= 0) {
      const merged = mergeMap(out[idx], item, kind, path);
      if (merged === undefined) out.splice(idx, 1);
      else out[idx] = merged;
    } else {
      const fresh = mergeMap({}, item, kind, path);
      if (fresh !== undefined) out.push(fresh);
    }
  }
  return out;
}

function goMap(m: JsonObject): string {
  return `map[${Object.keys(m)
    .sort()
    .map((k) => `${k}:${typeof m[k] === 'object' ? JSON.stringify(m[k]) : String(m[k])}`)
    .join(' ')}]`;
}

// $setElementOrder: listed elements first in the given order, then any the server had that the
// order list does not name, in their current relative order.
function orderList(list: JsonValue[], order: JsonValue[], strategy: ListStrategy): JsonValue[] {
  const keyOf = (x: JsonValue): unknown => (strategy.type === 'key' ? (isObject(x) ? x[strategy.key] : undefined) : x);
  const orderKeys = order.map((o) => (strategy.type === 'key' ? (isObject(o) ? o[strategy.key] : undefined) : o));
  const placed: JsonValue[] = [];
  const used = new Set<number>();
  for (const k of orderKeys) {
    const i = list.findIndex((x, j) => !used.has(j) && jsonEqual(keyOf(x), k));
    if (i >= 0) {
      used.add(i);
      placed.push(list[i]);
    }
  }
  list.forEach((x, j) => {
    if (!used.has(j)) placed.push(x);
  });
  return placed;
}

/** Convenience: applies a patch of the given content type. */
export function applyPatch(contentType: string, original: KObject, patch: unknown, kind: string): KObject {
  const ct = contentType.split(';')[0]!.trim();
  switch (ct) {
    case 'application/json-patch+json':
      return applyJsonPatch(original, patch);
    case 'application/merge-patch+json':
      return applyMergePatch(original, patch);
    case 'application/strategic-merge-patch+json':
      return applyStrategicMergePatch(original, patch, kind);
    default:
      throw new PatchError(`unsupported patch type: ${ct}`);
  }
}

export type { Json };
