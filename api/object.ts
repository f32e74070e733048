// Plain-object access for data that came from users (request bodies, patches, query
// strings, stored objects). Keys such as `__proto__`, `constructor` and `prototype` are
// ordinary keys in JSON and in Go's maps; on a JavaScript object `o[k]` reads them from the
// prototype and `o[k] = v` with k = `__proto__` replaces the object's prototype. Code that
// reads or writes a key it did not write itself goes through these helpers.

export type Obj = Record<string, unknown>;

/**
 * A JSON object as it comes from a request body or the store: any field may hold anything
 * until validation has looked at it. The one place the tree spells `any`: code that walks
 * such objects reads fields without a cast at every step, as Go code would walk a
 * map[string]interface{}.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type JsonObject = Record<string, any>;
/** A value inside such an object. */
export type JsonValue = JsonObject[string];

export function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/** o[k] when k is o's own property, else undefined (never a prototype's member). */
export function ownValue(o: object, k: string): JsonValue {
  return hasOwn(o, k) ? (o as Record<string, unknown>)[k] : undefined;
}

/** o[k] = v as an own data property, whatever k is (`__proto__` included). */
export function setOwn(o: object, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else (o as Record<string, unknown>)[k] = v;
}
