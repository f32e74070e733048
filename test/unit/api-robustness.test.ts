import { describe, expect, it } from 'vitest';
import { RESOURCES } from '../../api/resources.js';
import { strategyFor } from '../../control-plane/apiserver/registry/index.js';
import { ClusterIPAllocator, NodePortAllocator } from '../../control-plane/apiserver/allocators.js';

const allocators = { clusterIPs: new ClusterIPAllocator(), nodePorts: new NodePortAllocator(30000, 32767) };
import { applyStrategicMergePatch, PatchError } from '../../api/patch.js';
import type { JsonValue } from '../../api/object.js';

// Deterministic pseudo-random JSON, so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const KEYS = ['metadata', 'spec', 'status', 'name', 'labels', 'containers', 'ports', 'selector', 'template', 'replicas', 'image', 'env', 'data', 'subsets', 'addresses', 'endpoints', 'type', 'nodePort', 'matchLabels', 'matchExpressions', 'conditions', 'involvedObject', 'finalizers', 'volumes', 'resources', 'limits'];

function junk(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * 8);
  if (depth <= 0 || k < 3) {
    return [null, 0, -1, 70000, 'x', '', 'Bad Name', true, '1Gi', 'lots'][Math.floor(r() * 10)];
  }
  if (k < 5) return Array.from({ length: Math.floor(r() * 3) }, () => junk(r, depth - 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < 1 + Math.floor(r() * 4); i++) o[KEYS[Math.floor(r() * KEYS.length)]!] = junk(r, depth - 1);
  return o;
}

describe('robustness on arbitrary JSON', () => {
  it('defaults, validate, the registry strategies and table rows never throw', () => {
    const r = rng(42);
    const now = new Date();
    for (let i = 0; i < 150; i++) {
      for (const d of RESOURCES) {
        const o = { metadata: { name: 'x', namespace: 'default' }, ...(junk(r, 4) as object) } as Record<string, JsonValue>;
        const old = JSON.parse(JSON.stringify(o));
        expect(() => {
          const strategy = strategyFor(d, allocators);
          d.defaults(o);
          strategy.prepareForCreate(o, undefined);
          d.validate(o);
          d.validate(o, old);
          strategy.prepareForUpdate(o, old, undefined);
          const row = d.table.row(o, now);
          if (row.length !== d.table.columns.length) throw new Error(`${d.plural}: ${row.length} cells for ${d.table.columns.length} columns`);
        }, `${d.plural} #${i}: ${JSON.stringify(o).slice(0, 300)}`).not.toThrow();
      }
    }
  });

  it('strategic merge patch only ever throws PatchError', () => {
    const r = rng(7);
    for (let i = 0; i < 500; i++) {
      const orig = junk(r, 4);
      const patch = junk(r, 4);
      try {
        applyStrategicMergePatch(orig, patch, 'Pod');
      } catch (e) {
        expect(e).toBeInstanceOf(PatchError);
      }
    }
  });
});
