import { describe, it, expect } from 'vitest';
import { authorize } from '../../control-plane/apiserver/auth.js';

const node1 = { name: 'system:node:node-1', groups: ['system:nodes', 'system:authenticated'] };
const mirror = (nodeName: string) => ({
  metadata: { annotations: { 'kubernetes.io/config.mirror': 'abc' } },
  spec: { nodeName },
});

describe('node authorizer: mirror pods', () => {
  it('lets a node create the mirror pod of its own static pod', () => {
    expect(authorize(node1, { verb: 'create', group: '', resource: 'pods', namespace: 'default', name: 'web-node-1', object: mirror('node-1') }).allowed).toBe(true);
  });
  it('refuses a mirror pod bound to another node, and ordinary pods', () => {
    expect(authorize(node1, { verb: 'create', group: '', resource: 'pods', namespace: 'default', object: mirror('node-2') }).allowed).toBe(false);
    expect(authorize(node1, { verb: 'create', group: '', resource: 'pods', namespace: 'default', object: { spec: { nodeName: 'node-1' } } }).allowed).toBe(false);
  });
});
