// `__proto__`, `constructor` and `prototype` in user JSON are ordinary keys: no merge, copy,
// default or selector may change Object.prototype, an object's prototype, or read a
// prototype's member as if it were data. These run without cli/harden.ts (vitest's own
// process keeps Object.prototype.__proto__), so they test the code, not the second wall.
import { afterEach, describe, expect, it } from 'vitest';
import { applyJsonPatch, applyMergePatch, applyPatch, applyStrategicMergePatch } from '../../api/patch.js';
import { defaultPod, defaultSecret } from '../../api/defaults.js';
import { fieldValue, parseFieldSelector, parseLabelSelector, matches, validateFieldSelector } from '../../api/selectors.js';
import { immutable } from '../../api/validate.js';
import { semanticJSON } from '../../api/json.js';
import { nodeMatchesSelectorAndAffinity } from '../../api/scheduling.js';
import type { JsonValue } from '../../api/object.js';

const POISON = ['__proto__', 'constructor', 'prototype'];

function prototypeIsClean(): void {
  const probe = {} as Record<string, unknown>;
  for (const k of ['x', 'polluted', 'deletionTimestamp', 'metadata']) expect(probe[k]).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(
    [
      '__defineGetter__',
      '__defineSetter__',
      '__lookupGetter__',
      '__lookupSetter__',
      '__proto__',
      'constructor',
      'hasOwnProperty',
      'isPrototypeOf',
      'propertyIsEnumerable',
      'toLocaleString',
      'toString',
      'valueOf',
    ].sort(),
  );
}

function node(): Record<string, JsonValue> {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { a: 'b' } }, spec: {} };
}

afterEach(() => {
  for (const k of ['x', 'polluted', 'deletionTimestamp']) delete (Object.prototype as Record<string, unknown>)[k];
});

describe('patches treat prototype keys as data', () => {
  const patchBody = JSON.parse('{"__proto__":{"polluted":"1","deletionTimestamp":"2020-01-01T00:00:00Z"},"metadata":{"__proto__":{"deletionTimestamp":"2020-01-01T00:00:00Z"},"labels":{"__proto__":{"x":"1"}}}}');

  for (const [name, ct] of [
    ['strategic merge', 'application/strategic-merge-patch+json'],
    ['JSON merge', 'application/merge-patch+json'],
  ] as const) {
    it(`a ${name} patch with __proto__ keys pollutes nothing and keeps them as own keys`, () => {
      const out = applyPatch(ct, node(), patchBody, 'Node');
      prototypeIsClean();
      expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
      expect(Object.getPrototypeOf(out.metadata)).toBe(Object.prototype);
      expect(out.metadata!.deletionTimestamp).toBeUndefined();
      expect(out.deletionTimestamp).toBeUndefined();
      expect(Object.keys(out)).toContain('__proto__');
      expect(JSON.parse(JSON.stringify(out)).metadata.labels).toEqual({ a: 'b', ['__proto__']: { x: '1' } });
    });
  }

  it('a JSON patch that adds /__proto__ or walks through constructor/prototype pollutes nothing', () => {
    const out = applyJsonPatch(node(), [
      { op: 'add', path: '/__proto__', value: { deletionTimestamp: 'x' } },
      { op: 'add', path: '/metadata/__proto__', value: { deletionTimestamp: 'x' } },
      { op: 'replace', path: '/metadata/__proto__', value: { polluted: '1' } },
    ]);
    prototypeIsClean();
    expect(out.deletionTimestamp).toBeUndefined();
    expect(out.metadata.deletionTimestamp).toBeUndefined();
    expect(Object.getPrototypeOf(out.metadata)).toBe(Object.prototype);
    for (const path of ['/constructor/prototype/x', '/metadata/constructor/prototype/x', '/__proto__/x']) {
      expect(() => applyJsonPatch(node(), [{ op: 'add', path, value: '1' }])).toThrow(/missing value/);
      prototypeIsClean();
    }
    expect(() => applyJsonPatch(node(), [{ op: 'copy', from: '/constructor', path: '/metadata/x' }])).toThrow(/missing value/);
    expect(() => applyJsonPatch(node(), [{ op: 'remove', path: '/toString' }])).toThrow(/nonexistent/);
  });

  it('nested constructor/prototype keys in merge and strategic patches stay data', () => {
    for (const key of POISON) {
      const p = JSON.parse(`{"spec":{"${key}":{"prototype":{"x":"1"}}}}`);
      const a = applyMergePatch(node(), p);
      const b = applyStrategicMergePatch(node(), p, 'Node');
      prototypeIsClean();
      for (const o of [a, b]) expect(JSON.parse(JSON.stringify(o)).spec[key]).toEqual({ prototype: { x: '1' } });
    }
  });

  it('strategic merge directives are read only from the patch itself', () => {
    (Object.prototype as Record<string, unknown>)['$patch'] = 'delete';
    try {
      const out = applyStrategicMergePatch(node(), { metadata: { labels: { c: 'd' } } }, 'Node');
      expect(out.metadata.labels).toEqual({ a: 'b', c: 'd' });
    } finally {
      delete (Object.prototype as Record<string, unknown>)['$patch'];
    }
  });
});

describe('defaulting and comparison treat prototype keys as data', () => {
  it('stringData keys fold into data as own keys', () => {
    const s: Record<string, JsonValue> = JSON.parse('{"metadata":{"name":"s"},"stringData":{"__proto__":"p","constructor":"c"}}');
    defaultSecret(s);
    prototypeIsClean();
    expect(Object.keys(s.data).sort()).toEqual(['__proto__', 'constructor']);
    expect(Buffer.from(s.data['constructor'], 'base64').toString()).toBe('c');
  });

  it('limits copied into requests keep every key, prototype names included', () => {
    const pod: Record<string, JsonValue> = JSON.parse('{"spec":{"containers":[{"name":"c","image":"i","resources":{"limits":{"cpu":"1","constructor":"2","__proto__":"3"}}}]}}');
    defaultPod(pod);
    prototypeIsClean();
    expect(Object.keys(pod.spec.containers[0].resources.requests).sort()).toEqual(['__proto__', 'constructor', 'cpu']);
  });

  it('a change hidden under __proto__ is still a change', () => {
    const a = JSON.parse('{"x":1,"__proto__":{"y":1}}');
    const b = JSON.parse('{"x":1,"__proto__":{"y":2}}');
    expect(immutable(a, b, 'spec')).toHaveLength(1);
    expect(semanticJSON(a)).not.toBe(semanticJSON(b));
  });
});

describe('selectors never match on prototype members', () => {
  it('label selectors see only own labels', () => {
    for (const key of ['constructor', 'toString', 'hasOwnProperty']) {
      expect(matches(parseLabelSelector(key), { a: 'b' })).toBe(false);
      expect(matches(parseLabelSelector(`!${key}`), { a: 'b' })).toBe(true);
    }
  });

  it('field selectors on prototype member names are not supported fields', () => {
    const def = { fieldSelectors: { 'spec.nodeName': (o: Record<string, JsonValue>) => o.spec?.nodeName } };
    for (const f of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(() => validateFieldSelector(parseFieldSelector(`${f}=x`), def)).toThrow(/field label not supported/);
      expect(fieldValue(def, {}, f)).toBeUndefined();
    }
  });

  it('node affinity and nodeSelector see only own node labels', () => {
    const labels = { 'kubernetes.io/hostname': 'n1' };
    expect(nodeMatchesSelectorAndAffinity(undefined, { nodeSelectorTerms: [{ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }] }, labels, 'n1')).toBe(false);
    expect(nodeMatchesSelectorAndAffinity(JSON.parse('{"constructor":"x"}'), undefined, labels, 'n1')).toBe(false);
  });
});
