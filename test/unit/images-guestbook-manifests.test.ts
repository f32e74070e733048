// The guestbook manifests parse as real YAML, wire RCs to Services by labels, and name
// images that our offline recipes provide.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { normalizeRef } from '../../images/build.js';
import { allRecipes } from '../../images/recipes.js';
import type { JsonValue } from '../../api/object.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/guestbook');

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: Record<string, JsonValue>;
}

function load(): Map<string, Obj> {
  const out = new Map<string, Obj>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    const docs = parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'));
    for (const d of docs) {
      expect(d.errors, file).toEqual([]);
      const obj = d.toJS() as Obj;
      out.set(file, obj);
    }
  }
  return out;
}

const expected = {
  'redis-master-controller.yaml': { kind: 'ReplicationController', name: 'redis-master', replicas: 1 },
  'redis-slave-controller.yaml': { kind: 'ReplicationController', name: 'redis-slave', replicas: 2 },
  'frontend-controller.yaml': { kind: 'ReplicationController', name: 'frontend', replicas: 3 },
  'redis-master-service.yaml': { kind: 'Service', name: 'redis-master' },
  'redis-slave-service.yaml': { kind: 'Service', name: 'redis-slave' },
  'frontend-service.yaml': { kind: 'Service', name: 'frontend' },
} as const;

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe('examples/guestbook', () => {
  const objs = load();

  it('has exactly the six manifests, apiVersion v1, right kinds, names and replicas', () => {
    expect([...objs.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [file, want] of Object.entries(expected)) {
      const o = objs.get(file)!;
      expect(o.apiVersion, file).toBe('v1');
      expect(o.kind, file).toBe(want.kind);
      expect(o.metadata.name, file).toBe(want.name);
      if ('replicas' in want) expect(o.spec.replicas, file).toBe(want.replicas);
    }
  });

  it('every RC selector matches its template labels, and its Service selects the same pods', () => {
    for (const name of ['redis-master', 'redis-slave', 'frontend']) {
      const rc = objs.get(`${name}-controller.yaml`)!;
      const svc = objs.get(`${name}-service.yaml`)!;
      const podLabels = rc.spec.template.metadata.labels as Record<string, string>;
      expect(Object.keys(rc.spec.selector).length, name).toBeGreaterThan(0);
      expect(matches(rc.spec.selector, podLabels), `${name} RC selector vs template`).toBe(true);
      expect(matches(svc.spec.selector, podLabels), `${name} Service selector vs template`).toBe(true);
      // Each Service port reaches a port the container declares.
      const containerPorts = (rc.spec.template.spec.containers as Array<{ ports: Array<{ containerPort: number }> }>).flatMap((c) =>
        c.ports.map((p) => p.containerPort),
      );
      for (const p of svc.spec.ports as Array<{ port: number; targetPort?: number }>) {
        expect(containerPorts, `${name} port ${p.port}`).toContain(p.targetPort ?? p.port);
      }
    }
  });

  it('frontend is a NodePort Service on 30001, the others ClusterIP', () => {
    const fe = objs.get('frontend-service.yaml')!;
    expect(fe.spec.type).toBe('NodePort');
    expect(fe.spec.ports).toEqual([{ port: 80, nodePort: 30001 }]);
    expect(objs.get('redis-master-service.yaml')!.spec.type).toBeUndefined();
    expect(objs.get('redis-slave-service.yaml')!.spec.type).toBeUndefined();
  });

  it('slaves and frontend take hosts from the Service env vars', () => {
    for (const file of ['redis-slave-controller.yaml', 'frontend-controller.yaml']) {
      const env = objs.get(file)!.spec.template.spec.containers[0].env;
      expect(env, file).toEqual([{ name: 'GET_HOSTS_FROM', value: 'env' }]);
    }
  });

  it('every image is one the offline recipes build (lower-case upstream names)', () => {
    const provided = new Set(allRecipes().flatMap((r) => r.refs.map(normalizeRef)));
    for (const [file, o] of objs) {
      if (o.kind !== 'ReplicationController') continue;
      for (const c of o.spec.template.spec.containers as Array<{ image: string }>) {
        expect(c.image, file).toBe(c.image.toLowerCase()); // the seed's "Kubeguide/..." is not a valid reference
        expect(provided.has(normalizeRef(c.image)), `${file}: ${c.image}`).toBe(true);
      }
    }
  });
});
