// The OpenAPI v3 documents (from models.gen.ts, loaded on first use) kubectl reads to learn
// that the server validates fields itself (so it sends fieldValidation=Strict instead of
// validating client-side) and for `kubectl explain`. The decode stage (decode.ts) uses the
// same schemas.
import type { ResourceDef } from '../../api/registry.js';

export type Models = typeof import('./models.gen.js');
let models: Models | undefined;

export async function loadModels(): Promise<Models> {
  models ??= await import('./models.gen.js');
  return models;
}

/** Type expressions in the models: `Array<T>` and `{ [key: string]: T; }`. */
export const ARRAY = /^Array<(.+)>$/;
export const MAP = /^\{ \[key: string\]: (.+); \}$/;

function modelFor(m: Models, group: string, version: string, kind: string): string | undefined {
  return m.ROOTS[group ? `${group}/${version}/${kind}` : `${version}/${kind}`];
}

// ---------------------------------------------------------------- OpenAPI v3

function schemaName(model: string, group: string): string {
  // Upstream names: io.k8s.api.core.v1.Pod. Only kubectl explain shows them; the GVK
  // extension is what kubectl matches on.
  return `io.k8ts.${group || 'core'}.${model}`;
}

function typeSchema(m: Models, t: string, group: string, refs: Set<string>): Record<string, unknown> {
  const arr = ARRAY.exec(t);
  if (arr) return { type: 'array', items: typeSchema(m, arr[1], group, refs) };
  const map = MAP.exec(t);
  if (map) return { type: 'object', additionalProperties: typeSchema(m, map[1], group, refs) };
  switch (t) {
    case 'string':
      return { type: 'string' };
    case 'number':
      return { type: 'integer', format: 'int64' };
    case 'boolean':
      return { type: 'boolean' };
    case 'Date':
      return { type: 'string', format: 'date-time' };
    case 'IntOrString':
      return { 'x-kubernetes-int-or-string': true };
    case 'any':
    case 'object':
      return { type: 'object' };
  }
  if (m.MODELS[t]) {
    refs.add(t);
    return { allOf: [{ $ref: `#/components/schemas/${schemaName(t, group)}` }] };
  }
  return {};
}

/** One group-version document: paths with PATCH operations carrying GVK + fieldValidation, and schemas. */
export async function openapiV3GroupVersion(defs: ResourceDef[], group: string, version: string): Promise<Record<string, unknown>> {
  const m = await loadModels();
  const schemas: Record<string, unknown> = {};
  const paths: Record<string, unknown> = {};
  const pending: string[] = [];
  const seen = new Set<string>();
  const refs = new Set<string>();
  const prefix = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const params = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'].map((name) => ({
    name,
    in: 'query',
    schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true },
  }));
  for (const def of defs) {
    if (def.group !== group || def.version !== version) continue;
    const model = modelFor(m, group, version, def.kind);
    const gvk = { group, version, kind: def.kind };
    const ref = model ? { $ref: `#/components/schemas/${schemaName(model, group)}` } : { type: 'object' };
    const op = (verb: string) => ({
      operationId: `${verb}${def.kind}`,
      'x-kubernetes-action': verb,
      'x-kubernetes-group-version-kind': gvk,
      parameters: params,
      responses: { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } },
      requestBody: { content: { 'application/json': { schema: ref } } },
    });
    const base = def.namespaced ? `${prefix}/namespaces/{namespace}/${def.plural}` : `${prefix}/${def.plural}`;
    paths[base] = { post: op('post'), get: { ...op('list'), requestBody: undefined } };
    paths[`${base}/{name}`] = { get: { ...op('get'), requestBody: undefined }, put: op('put'), patch: op('patch'), delete: op('delete') };
    if (model && !seen.has(model)) {
      seen.add(model);
      pending.push(model);
    }
    if (model) (schemas as Record<string, unknown>)[`__gvk:${model}`] = gvk;
  }
  while (pending.length) {
    const name = pending.pop()!;
    const model = m.MODELS[name];
    if (!model) continue;
    const properties: Record<string, unknown> = {};
    const required: string[] = [];
    for (const [k, p] of Object.entries(model.p)) {
      const s = typeSchema(m, p.t, group, refs);
      properties[k] = p.d ? { ...s, description: p.d } : s;
      if (p.r) required.push(k);
    }
    const gvk = (schemas as Record<string, unknown>)[`__gvk:${name}`];
    delete (schemas as Record<string, unknown>)[`__gvk:${name}`];
    schemas[schemaName(name, group)] = {
      type: 'object',
      ...(model.d ? { description: model.d } : {}),
      properties,
      ...(required.length ? { required } : {}),
      ...(gvk ? { 'x-kubernetes-group-version-kind': [gvk] } : {}),
    };
    for (const r of refs) {
      if (!seen.has(r)) {
        seen.add(r);
        pending.push(r);
      }
    }
    refs.clear();
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0' },
    paths,
    components: { schemas },
  };
}
