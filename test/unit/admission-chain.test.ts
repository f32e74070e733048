// The admission chain on ApiCore over an in-memory store: the order and the flags, quota
// charging under concurrency (one apiserver and two on one store), PodSecurity's namespace
// rules and exemptions, LimitRanger's phases, NamespaceLifecycle.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiCore } from '../../control-plane/apiserver/core.js';
import { AdmissionConfigError, admissionChain, enabledPlugins, loadAdmissionConfiguration, prepareAdmission } from '../../control-plane/apiserver/admission/chain.js';
import { StatusError } from '../../api/status.js';
import type { KObject, ResourceDef } from '../../api/registry.js';
import { MemStore } from '../helpers/memstore.js';

const ADMIN = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };

async function refusal(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof StatusError) return { code: err.code, message: err.status.body.message ?? '' };
    throw err;
  }
  throw new Error('expected a refusal');
}

async function newCore(store = new MemStore(), opts = {}): Promise<ApiCore> {
  const core = new ApiCore({ store });
  await core.init();
  core.admission.push(...admissionChain(core, prepareAdmission(opts)));
  return core;
}

const podBody = (name: string, extra: KObject = {}): KObject => ({ metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox', ...extra }] } });

describe('the chain and its flags', () => {
  it('runs in upstream order whatever the flags name, all on by default', () => {
    expect(enabledPlugins({})).toEqual(['NamespaceLifecycle', 'LimitRanger', 'ServiceAccount', 'NodeRestriction', 'PodSecurity', 'ResourceQuota']);
    expect(enabledPlugins({ enable: ['ResourceQuota', 'NamespaceLifecycle'], disable: ['PodSecurity', 'LimitRanger'] })).toEqual(['NamespaceLifecycle', 'ServiceAccount', 'NodeRestriction', 'ResourceQuota']);
  });

  it('refuses unknown names and overlaps with kube-apiserver messages', () => {
    expect(() => enabledPlugins({ enable: ['AlwaysPullImages'] })).toThrow('enable-admission-plugins plugin "AlwaysPullImages" is unknown');
    expect(() => enabledPlugins({ disable: ['Nope'] })).toThrow('disable-admission-plugins plugin "Nope" is unknown');
    expect(() => enabledPlugins({ enable: ['PodSecurity'], disable: ['PodSecurity'] })).toThrow('[PodSecurity] in enable-admission-plugins and disable-admission-plugins overlapped');
  });

  it('with everything disabled, nothing is checked (the figure measures this against the default)', async () => {
    const core = await newCore(new MemStore(), { disable: ['NamespaceLifecycle', 'LimitRanger', 'ServiceAccount', 'NodeRestriction', 'PodSecurity', 'ResourceQuota'] });
    expect(core.admission).toEqual([]);
    await core.create(core.find('', 'v1', 'configmaps')!, 'missing', { metadata: { name: 'x' } }, { user: ADMIN });
  });
});

describe('ResourceQuota admission', () => {
  let core: ApiCore;
  let pods: ResourceDef, quotas: ResourceDef, nsDef: ResourceDef;

  async function quota(c: ApiCore, ns: string, hard: KObject): Promise<void> {
    await c.create(quotas, ns, { metadata: { name: 'q' }, spec: { hard } }, { user: ADMIN });
    // What the controller would write first: hard, and used at zero.
    const used = Object.fromEntries(Object.keys(hard).map((k) => [k, '0']));
    await c.updateWith(quotas, ns, 'q', (q) => ({ ...q, status: { hard, used } }), { subresource: 'status' });
    await c.cache(quotas).waitFor(Number((await c.get(quotas, ns, 'q')).metadata!.resourceVersion));
  }

  beforeEach(async () => {
    core = await newCore();
    pods = core.find('', 'v1', 'pods')!;
    quotas = core.find('', 'v1', 'resourcequotas')!;
    nsDef = core.nsDef;
    await core.create(nsDef, undefined, { metadata: { name: 'q1' } }, { user: ADMIN });
  });

  it('20 concurrent creates against pods=5: exactly 5 pass, the rest get the exceeded-quota refusal, used is 5', async () => {
    await quota(core, 'q1', { pods: '5' });
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => core.create(pods, 'q1', podBody(`p${i}`), { user: ADMIN })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect(((r as PromiseRejectedResult).reason as StatusError).status.body.message).toMatch(/^pods "p\d+" is forbidden: exceeded quota: q, requested: pods=1, used: pods=5, limited: pods=5$/);
    }
    expect((await core.get(quotas, 'q1', 'q')).status.used).toEqual({ pods: '5' });
    expect((await core.list(pods, { namespace: 'q1', selectors: {} })).items).toHaveLength(5);
  });

  it('concurrent creates are charged in batches: one status write per batch, not per create', async () => {
    await quota(core, 'q1', { pods: '100' });
    const writes = vi.spyOn(core, 'updateWith');
    await Promise.all(Array.from({ length: 20 }, (_, i) => core.create(pods, 'q1', podBody(`b${i}`), { user: ADMIN })));
    const statusWrites = writes.mock.calls.filter(([def]) => def === quotas).length;
    expect(statusWrites).toBeGreaterThan(0);
    expect(statusWrites).toBeLessThan(20);
    expect((await core.get(quotas, 'q1', 'q')).status.used).toEqual({ pods: '20' });
  });

  it('two apiservers on one store racing for the last units never exceed the quota (the status write is conditional)', async () => {
    const store = new MemStore();
    const a = await newCore(store);
    const b = await newCore(store);
    await a.create(nsDef, undefined, { metadata: { name: 'q2' } }, { user: ADMIN });
    await quota(a, 'q2', { pods: '3', 'requests.cpu': '3' });
    await b.cache(quotas).waitFor(Number((await b.get(quotas, 'q2', 'q')).metadata!.resourceVersion));
    const body = (i: number) => podBody(`p${i}`, { resources: { requests: { cpu: '1' } } });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).create(pods, 'q2', body(i), { user: ADMIN })));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThanOrEqual(3);
    const stored = (await a.list(pods, { namespace: 'q2', selectors: {} })).items.length;
    expect(stored).toBe(ok);
    expect((await a.get(quotas, 'q2', 'q')).status.used).toEqual({ pods: String(ok), 'requests.cpu': String(ok) });
    a.stop();
    b.stop();
  });

  it('a refused create changes nothing; a dry run is checked but not charged', async () => {
    await quota(core, 'q1', { pods: '1' });
    await core.create(pods, 'q1', podBody('a'), { user: ADMIN });
    const before = await core.get(quotas, 'q1', 'q');
    expect((await refusal(core.create(pods, 'q1', podBody('b'), { user: ADMIN }))).message).toBe('pods "b" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1');
    expect((await refusal(core.create(pods, 'q1', podBody('c'), { user: ADMIN, dryRun: true }))).code).toBe(403);
    const after = await core.get(quotas, 'q1', 'q');
    expect(after.metadata!.resourceVersion).toBe(before.metadata!.resourceVersion);
    expect((await core.list(pods, { namespace: 'q1', selectors: {} })).items.map((p) => p.metadata!.name)).toEqual(['a']);
  });

  it('an invalid object is not charged: validation runs before the quota', async () => {
    await quota(core, 'q1', { pods: '2' });
    expect((await refusal(core.create(pods, 'q1', { metadata: { name: 'bad' }, spec: { containers: [] } }, { user: ADMIN }))).code).toBe(422);
    expect((await core.get(quotas, 'q1', 'q')).status.used).toEqual({ pods: '0' });
  });
});

describe('PodSecurity admission', () => {
  let core: ApiCore;
  let pods: ResourceDef, deployments: ResourceDef, nsDef: ResourceDef;
  const labelled = (name: string, labels: KObject) => core.create(nsDef, undefined, { metadata: { name, labels } }, { user: ADMIN });

  beforeEach(async () => {
    core = await newCore();
    pods = core.find('', 'v1', 'pods')!;
    deployments = core.find('apps', 'v1', 'deployments')!;
    nsDef = core.nsDef;
  });

  it('validates the labels on create (422), and on update only when they changed', async () => {
    const r = await refusal(labelled('bad', { 'pod-security.kubernetes.io/enforce': 'strict' }));
    expect(r).toEqual({ code: 422, message: 'Namespace "bad" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted' });
  });

  it('enforce refuses, warn warns, workloads only warn', async () => {
    await labelled('r', { 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/warn': 'restricted' });
    const priv = podBody('priv', { securityContext: { privileged: true } });
    expect((await refusal(core.create(pods, 'r', priv, { user: ADMIN }))).message).toBe(
      'pods "priv" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)',
    );
    const warnings: string[] = [];
    await core.create(pods, 'r', podBody('plain'), { user: ADMIN, warnings });
    expect(warnings).toEqual([
      'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    ]);
    const dw: string[] = [];
    const d = { metadata: { name: 'd' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: priv.spec } } };
    await core.create(deployments, 'r', d, { user: ADMIN, warnings: dw });
    expect(dw[0]).toMatch(/^would violate PodSecurity "restricted:latest": privileged \(container "c" must not set securityContext.privileged=true\), /);
  });

  it('raising enforce warns about the pods already there, grouped by reason', async () => {
    await labelled('w', {});
    for (const n of ['a', 'b', 'c']) await core.create(pods, 'w', podBody(n, { securityContext: { privileged: true } }), { user: ADMIN });
    const warnings: string[] = [];
    const ns = await core.get(nsDef, undefined, 'w');
    ns.metadata!.labels = { 'pod-security.kubernetes.io/enforce': 'baseline' };
    await core.update(nsDef, undefined, 'w', ns, { user: ADMIN, warnings });
    expect(warnings).toEqual(['existing pods in namespace "w" violate the new PodSecurity enforce level "baseline:latest"', 'a (and 2 other pods): privileged']);
  });

  it('exempts the namespaces, users and runtime classes of --admission-control-config-file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-admission-'));
    try {
      writeFileSync(
        join(dir, 'admission.yaml'),
        [
          'apiVersion: apiserver.config.k8s.io/v1',
          'kind: AdmissionConfiguration',
          'plugins:',
          '- name: PodSecurity',
          '  path: podsecurity.yaml',
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'podsecurity.yaml'),
        [
          'apiVersion: pod-security.admission.config.k8s.io/v1',
          'kind: PodSecurityConfiguration',
          'defaults: {enforce: baseline}',
          'exemptions: {namespaces: [free], usernames: [trusted], runtimeClasses: [kata]}',
        ].join('\n'),
      );
      const c = await newCore(new MemStore(), { configFile: join(dir, 'admission.yaml') });
      const p = c.find('', 'v1', 'pods')!;
      for (const n of ['free', 'other']) await c.create(c.nsDef, undefined, { metadata: { name: n } }, { user: ADMIN });
      const priv = () => podBody('x', { securityContext: { privileged: true } });
      // The default applies to unlabelled namespaces; the exemptions lift it.
      expect((await refusal(c.create(p, 'other', priv(), { user: ADMIN }))).message).toMatch(/violates PodSecurity "baseline:latest"/);
      await c.create(p, 'free', priv(), { user: ADMIN });
      await c.create(p, 'other', priv(), { user: { name: 'trusted', groups: [] } });
      const kata = priv();
      kata.metadata!.name = 'k';
      kata.spec.runtimeClassName = 'kata';
      await c.create(p, 'other', kata, { user: ADMIN });
      writeFileSync(join(dir, 'podsecurity.yaml'), 'apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: strict}\nexemptions: {usernames: ["", a, a]}\n');
      expect(() => loadAdmissionConfiguration(join(dir, 'admission.yaml'))).toThrow(AdmissionConfigError);
      expect(() => loadAdmissionConfiguration(join(dir, 'admission.yaml'))).toThrow(
        'PodSecurity: [defaults.enforce: Invalid value: "strict": must be one of privileged, baseline, restricted, exemptions.usernames[0]: Invalid value: "": username must not be empty, exemptions.usernames[2]: Duplicate value: "a"]',
      );
      c.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('LimitRanger and NamespaceLifecycle', () => {
  let core: ApiCore;
  afterAll(() => core?.stop());

  it('defaults a pod before its validation and refuses bounds after it', async () => {
    core = await newCore();
    const pods = core.find('', 'v1', 'pods')!;
    const ranges = core.find('', 'v1', 'limitranges')!;
    await core.create(core.nsDef, undefined, { metadata: { name: 'l' } }, { user: ADMIN });
    await core.create(ranges, 'l', { metadata: { name: 'lr' }, spec: { limits: [{ type: 'Container', max: { memory: '1Gi' }, defaultRequest: { memory: '256Mi' } }] } }, { user: ADMIN });
    await core.cache(ranges).waitFor(Number((await core.get(ranges, 'l', 'lr')).metadata!.resourceVersion));
    const p = await core.create(pods, 'l', podBody('a'), { user: ADMIN });
    expect(p.spec.containers[0].resources).toEqual({ limits: { memory: '1Gi' }, requests: { memory: '256Mi' } });
    expect((await refusal(core.create(pods, 'l', podBody('b', { resources: { limits: { memory: '2Gi' } } }), { user: ADMIN }))).message).toBe(
      'pods "b" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi',
    );
  });

  it('a write into a missing namespace is a 404 for updates too; deletes and cluster-scoped objects pass', async () => {
    core = await newCore();
    const cms = core.find('', 'v1', 'configmaps')!;
    await core.create(core.nsDef, undefined, { metadata: { name: 'n' } }, { user: ADMIN });
    await core.create(cms, 'n', { metadata: { name: 'x' } }, { user: ADMIN });
    expect(await refusal(core.create(cms, 'gone', { metadata: { name: 'x' } }, { user: ADMIN }))).toEqual({ code: 404, message: 'namespaces "gone" not found' });
    const terminating = await core.delete(core.nsDef, undefined, 'n', { user: ADMIN });
    expect(terminating.gone).toBe(false);
    const r = await refusal(core.create(cms, 'n', { metadata: { name: 'y' } }, { user: ADMIN }));
    expect(r).toEqual({ code: 403, message: 'configmaps "y" is forbidden: unable to create new content in namespace n because it is being terminated' });
    await core.delete(cms, 'n', 'x', { user: ADMIN });
    await core.create(core.find('', 'v1', 'nodes')!, undefined, { metadata: { name: 'n1' } }, { user: ADMIN });
  });
});
