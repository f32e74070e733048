// Quota evaluation (api/quota.ts) and the quantity arithmetic under it, table-driven against
// upstream: what pods, services and other objects use, which quotas match them, and the
// refusals CheckRequest gives ("exceeded quota: ...", "failed quota: ...: must specify ...",
// "status unknown for quota: ...").
import { describe, expect, it } from 'vitest';
import { calculateUsage, checkQuotaRequest, evaluatorFor, objectCountName, quotaUsage, quotaWithUsage, type Evaluator, type QuotaRequest } from '../../api/quota.js';
import { addQuantity, formatQuantity, toQuantity } from '../../api/quantity.js';
import { podResources, resourceListJson } from '../../api/resourcelist.js';
import { validateResourceQuota } from '../../api/resourcequota.js';
import type { KObject } from '../../api/registry.js';

const NOW = Date.parse('2025-01-01T00:00:00Z');
const usage = (group: string, resource: string, o: KObject) => resourceListJson(evaluatorFor({ group, resource })!.usage(o, NOW));

function pod(name: string, containers: KObject[], extra: KObject = {}): KObject {
  return { metadata: { name, namespace: 'ns' }, spec: { containers, ...extra }, status: { phase: 'Pending' } };
}
const c = (name: string, requests?: KObject, limits?: KObject): KObject => ({ name, image: 'x', resources: { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) } });

function quota(name: string, hard: KObject, used: KObject | undefined, spec: KObject = {}): KObject {
  return { metadata: { name, namespace: 'ns', resourceVersion: '7' }, spec: { hard, ...spec }, status: { hard, ...(used ? { used } : {}) } };
}

const create = (obj: KObject): QuotaRequest => ({ operation: 'CREATE', obj, now: NOW });

/** checkQuotaRequest on stored quota objects, answering with the quota objects to store. */
function check(quotas: KObject[], ev: Evaluator, req: QuotaRequest) {
  const r = checkQuotaRequest(quotas.map(quotaUsage), ev, req);
  return r.ok ? { ok: true, quotas: r.quotas.map(quotaWithUsage), changed: r.changed } : r;
}

describe('quantities as quota adds and prints them', () => {
  it.each([
    ['1500m', '1500m'],
    ['1000m', '1'],
    ['100000', '100k'],
    ['1.5', '1500m'],
    ['1200', '1200'],
    ['1.5Gi', '1536Mi'],
    ['0.5Gi', '512Mi'],
    ['512', '512'],
    ['1e3', '1e3'],
    ['2E', '2E'],
    ['-100m', '-100m'],
  ])('%s prints as %s', (q, want) => expect(formatQuantity(toQuantity(q))).toBe(want));

  it('a sum keeps the first operand format unless it is zero', () => {
    expect(formatQuantity(addQuantity(toQuantity('128Mi'), toQuantity('128Mi')))).toBe('256Mi');
    expect(formatQuantity(addQuantity(toQuantity('0'), toQuantity('128Mi')))).toBe('128Mi');
    expect(formatQuantity(addQuantity(toQuantity('100m'), toQuantity('1.9')))).toBe('2');
  });

  it('a pod totals its containers and takes the larger of that and each init container (sidecars added)', () => {
    const p = pod('p', [c('a', { cpu: '100m' }), c('b', { cpu: '200m' })], {
      initContainers: [{ ...c('i', { cpu: '1' }) }, { ...c('s', { cpu: '50m' }), restartPolicy: 'Always' }],
      overhead: { cpu: '10m' },
    });
    expect(resourceListJson(podResources(p, 'requests'))).toEqual({ cpu: '1' });
    expect(resourceListJson(podResources(p, 'requests', true))).toEqual({ cpu: '1010m' });
  });
});

describe('usage', () => {
  it.each<[string, string, string, KObject, KObject]>([
    ['a best-effort pod', '', 'pods', pod('a', [c('c')]), { 'count/pods': '1', pods: '1' }],
    [
      'a pod with requests and limits',
      '',
      'pods',
      pod('a', [c('c', { cpu: '250m', memory: '64Mi' }, { cpu: '500m', memory: '128Mi' }), c('d', { cpu: '250m' })]),
      { 'count/pods': '1', pods: '1', cpu: '500m', 'requests.cpu': '500m', 'limits.cpu': '500m', memory: '64Mi', 'requests.memory': '64Mi', 'limits.memory': '128Mi' },
    ],
    ['a finished pod counts only as an object', '', 'pods', { ...pod('a', [c('c', { cpu: '1' })]), status: { phase: 'Succeeded' } }, { 'count/pods': '1' }],
    [
      'a pod past its deletion grace',
      '',
      'pods',
      { ...pod('a', [c('c')]), metadata: { name: 'a', deletionTimestamp: '2024-12-31T23:59:00Z', deletionGracePeriodSeconds: 30 } },
      { 'count/pods': '1' },
    ],
    ['a ClusterIP service', '', 'services', { spec: { type: 'ClusterIP', ports: [{ port: 80 }] } }, { 'count/services': '1', services: '1', 'services.loadbalancers': '0', 'services.nodeports': '0' }],
    ['a NodePort service', '', 'services', { spec: { type: 'NodePort', ports: [{ port: 80 }, { port: 81 }] } }, { 'count/services': '1', services: '1', 'services.loadbalancers': '0', 'services.nodeports': '2' }],
    ['a LoadBalancer', '', 'services', { spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } }, { 'count/services': '1', services: '1', 'services.loadbalancers': '1', 'services.nodeports': '1' }],
    ['a ConfigMap (legacy name too)', '', 'configmaps', {}, { 'count/configmaps': '1', configmaps: '1' }],
    ['a Deployment', 'apps', 'deployments', {}, { 'count/deployments.apps': '1' }],
  ])('%s', (_what, group, resource, o, want) => expect(usage(group, resource, o)).toEqual(want));

  it('names object counts as upstream', () => {
    expect(objectCountName({ group: '', resource: 'secrets' })).toBe('count/secrets');
    expect(objectCountName({ group: 'apps', resource: 'replicasets' })).toBe('count/replicasets.apps');
  });

  it('recounts a namespace for the controller: masked to the quota, scopes applied, zeros kept', () => {
    const q = quota('q', { pods: '10', 'requests.cpu': '2', configmaps: '5' }, undefined, { scopes: ['NotBestEffort'] });
    const pods = [pod('a', [c('c', { cpu: '100m' })]), pod('b', [c('c')]), pod('d', [c('c', { cpu: '300m' })])];
    expect(resourceListJson(calculateUsage(q, evaluatorFor({ group: '', resource: 'pods' })!, pods, NOW))).toEqual({ pods: '2', 'requests.cpu': '400m' });
    const q2 = quota('q2', { pods: '10' }, undefined);
    expect(resourceListJson(calculateUsage(q2, evaluatorFor({ group: '', resource: 'pods' })!, [], NOW))).toEqual({ pods: '0' });
  });
});

describe('CheckRequest', () => {
  const pods = evaluatorFor({ group: '', resource: 'pods' })!;

  it('refuses what would go over with upstream message, and charges what fits', () => {
    const full = quota('q', { pods: '2' }, { pods: '2' });
    expect(check([full], pods, create(pod('c', [c('c')])))).toEqual({ ok: false, message: 'exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2' });
    const room = quota('q', { pods: '2', 'count/pods': '5' }, { pods: '1', 'count/pods': '1' });
    const r = check([room], pods, create(pod('c', [c('c')])));
    expect(r.ok && r.changed).toBe(true);
    if (r.ok) expect(r.quotas![0]!.status.used).toEqual({ 'count/pods': '2', pods: '2' });
    expect(room.status.used).toEqual({ pods: '1', 'count/pods': '1' }); // the input is not changed
  });

  it('names only the exceeded resources, sorted', () => {
    const q = quota('compute', { 'limits.cpu': '1', 'limits.memory': '1Gi', pods: '10' }, { 'limits.cpu': '900m', 'limits.memory': '1Gi', pods: '3' });
    const p = pod('big', [c('c', { cpu: '200m', memory: '1Mi' }, { cpu: '200m', memory: '1Mi' })]);
    expect(check([q], pods, create(p))).toEqual({
      ok: false,
      message: 'exceeded quota: compute, requested: limits.cpu=200m,limits.memory=1Mi, used: limits.cpu=900m,limits.memory=1Gi, limited: limits.cpu=1,limits.memory=1Gi',
    });
  });

  it('a quota on cpu or memory makes every container state it', () => {
    const q = quota('compute', { 'requests.cpu': '4', 'limits.memory': '4Gi' }, { 'requests.cpu': '0', 'limits.memory': '0' });
    const p = pod('p', [c('a', { cpu: '1' }), c('b')], { initContainers: [c('init', undefined, { memory: '1Gi' })] });
    expect(check([q], pods, create(p))).toEqual({ ok: false, message: 'failed quota: compute: must specify limits.memory for: a,b; requests.cpu for: b,init' });
  });

  it('refuses while the controller has not counted a new quota yet', () => {
    expect(check([quota('fresh', { pods: '2', 'requests.cpu': '1' }, undefined)], pods, create(pod('p', [c('c', { cpu: '1' })])))).toEqual({
      ok: false,
      message: 'status unknown for quota: fresh, resources: pods,requests.cpu',
    });
  });

  it('scopes: a BestEffort quota ignores pods with requests, Terminating matches activeDeadlineSeconds', () => {
    const be = quota('be', { pods: '0' }, { pods: '0' }, { scopes: ['BestEffort'] });
    expect(check([be], pods, create(pod('r', [c('c', { cpu: '1' })])))).toMatchObject({ ok: true, changed: false });
    expect(check([be], pods, create(pod('b', [c('c')])))).toMatchObject({ ok: false });
    const term = quota('t', { pods: '0' }, { pods: '0' }, { scopes: ['Terminating'] });
    expect(check([term], pods, create(pod('b', [c('c')])))).toMatchObject({ ok: true, changed: false });
    expect(check([term], pods, create(pod('b', [c('c')], { activeDeadlineSeconds: 10 })))).toMatchObject({ ok: false });
    const pc = quota('pc', { pods: '0' }, { pods: '0' }, { scopeSelector: { matchExpressions: [{ scopeName: 'PriorityClass', operator: 'In', values: ['high'] }] } });
    expect(check([pc], pods, create(pod('b', [c('c')], { priorityClassName: 'low' })))).toMatchObject({ ok: true, changed: false });
    expect(check([pc], pods, create(pod('b', [c('c')], { priorityClassName: 'high' })))).toMatchObject({ ok: false });
  });

  it('a quota that limits nothing the object uses is not touched', () => {
    const q = quota('q', { configmaps: '1' }, { configmaps: '1' });
    expect(check([q], pods, create(pod('p', [c('c')])))).toEqual({ ok: true, quotas: [q], changed: false });
  });

  it('a Service update is charged what it adds: ClusterIP to NodePort takes node ports, not another service', () => {
    const svcs = evaluatorFor({ group: '', resource: 'services' })!;
    const q = quota('q', { services: '1', 'services.nodeports': '1' }, { services: '1', 'services.nodeports': '0' });
    const old = { metadata: { name: 's', resourceVersion: '3' }, spec: { type: 'ClusterIP', ports: [{ port: 80 }] } };
    const one = { metadata: { name: 's' }, spec: { type: 'NodePort', ports: [{ port: 80 }] } };
    const two = { metadata: { name: 's' }, spec: { type: 'NodePort', ports: [{ port: 80 }, { port: 81 }] } };
    const r = check([q], svcs, { operation: 'UPDATE', obj: one, old, now: NOW });
    expect(r.ok && r.quotas![0]!.status.used).toEqual({ services: '1', 'services.nodeports': '1' });
    expect(check([q], svcs, { operation: 'UPDATE', obj: two, old, now: NOW })).toEqual({
      ok: false,
      message: 'exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1',
    });
  });

  it('object counts are charged on create only, and not for subresources', () => {
    const cms = evaluatorFor({ group: '', resource: 'configmaps' })!;
    const q = quota('q', { 'count/configmaps': '1' }, { 'count/configmaps': '1' });
    expect(check([q], cms, create({ metadata: { name: 'x' } }))).toMatchObject({ ok: false, message: 'exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1' });
    expect(check([q], cms, { operation: 'UPDATE', obj: {}, old: {}, now: NOW })).toMatchObject({ ok: true, changed: false });
    expect(check([q], pods, { operation: 'CREATE', subresource: 'eviction', obj: {}, now: NOW })).toMatchObject({ ok: true, changed: false });
  });
});

describe('ResourceQuota validation', () => {
  const v = (spec: KObject) => validateResourceQuota({ metadata: { name: 'q', namespace: 'ns' }, spec }).map((e) => e.message);
  it.each<[string, KObject, string[]]>([
    ['valid', { hard: { pods: '10', 'requests.cpu': '1', 'count/deployments.apps': '2', 'requests.example.com/gpu': '1' } }, []],
    ['unknown resource', { hard: { widgets: '1' } }, ['spec.hard[widgets]: Invalid value: "widgets": must be a standard resource type or fully qualified', 'spec.hard[widgets]: Invalid value: "widgets": must be a standard resource for quota']],
    ['negative', { hard: { 'limits.cpu': '-1' } }, ['spec.hard[limits.cpu]: Invalid value: "-1": must be greater than or equal to 0']],
    ['fractional count', { hard: { pods: '1500m' } }, ['spec.hard[pods]: Invalid value: "1500m": must be an integer']],
    ['not a quantity', { hard: { pods: 'lots' } }, [`spec.hard[pods]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`]],
    ['scope on a resource it cannot limit', { hard: { services: '1' }, scopes: ['BestEffort'] }, ['spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource']],
    [
      'conflicting scopes',
      { hard: { pods: '1' }, scopes: ['Terminating', 'NotTerminating'] },
      ['spec.scopes: Invalid value: []core.ResourceQuotaScope{"Terminating", "NotTerminating"}: conflicting scopes'],
    ],
  ])('%s', (_what, spec, want) => expect(v(spec)).toEqual(want));

  it('scopes cannot change', () => {
    const old = { metadata: { name: 'q', namespace: 'ns', uid: 'u', resourceVersion: '1' }, spec: { hard: { pods: '1' }, scopes: ['BestEffort'] } };
    const now = { ...old, spec: { hard: { pods: '1' }, scopes: ['NotBestEffort'] } };
    expect(validateResourceQuota(now, old).map((e) => e.message)).toEqual(['spec.scopes: Invalid value: []core.ResourceQuotaScope{"NotBestEffort"}: field is immutable']);
  });
});
