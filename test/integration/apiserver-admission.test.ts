// The admission chain on the real control-plane process, driven by the real kubectl:
// - ResourceQuota: `kubectl create quota --hard=pods=2`, two pods, a third refused with
//   upstream's exact message, `kubectl get quota` showing used/hard, the namespace's objects
//   and the quota's resourceVersion unchanged by the refusal; concurrent creates never
//   exceed it; the controller gives a deleted pod's share back;
// - PodSecurity: a namespace labelled enforce=restricted refuses a privileged pod with
//   upstream's message and stores nothing; warn=restricted makes kubectl print the Warning;
// - LimitRanger: defaults applied to a pod, a limit over the max refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { adminClient, type RawClient } from '../helpers/apiclient.js';
import { waitFor } from '../helpers/wait.js';
import type { JsonValue } from '../../api/object.js';

let cp: TestControlPlane;
let api: RawClient;
const P = `t${process.pid}`;

beforeAll(async () => {
  cp = await startTestControlPlane();
  api = await adminClient(cp);
});
afterAll(async () => {
  api?.close();
  await cp?.stop();
});

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, { input });
  if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = async (args: string[]): Promise<JsonValue> => JSON.parse(await kubectl([...args, '-o', 'json']));

/** Every object in the namespace, by kind/name, with its resourceVersion. */
async function snapshot(ns: string): Promise<Record<string, string>> {
  const list = await json(['get', 'pods,configmaps,secrets,serviceaccounts,services,resourcequotas,limitranges,events,replicationcontrollers,deployments', '-n', ns]);
  return Object.fromEntries(list.items.map((o: JsonValue) => [`${o.kind}/${o.metadata.name}`, o.metadata.resourceVersion]));
}

/** A new namespace once its controllers are done with it (default ServiceAccount, root CA ConfigMap), so a snapshot stays still. */
async function namespace(name: string, labels: string[] = []): Promise<void> {
  await kubectl(['create', 'namespace', name]);
  if (labels.length) await kubectl(['label', 'namespace', name, ...labels]);
  await waitFor(`${name} settled`, async () => {
    const s = await snapshot(name);
    return s['ServiceAccount/default'] && s['ConfigMap/kube-root-ca.crt'];
  });
}

// Pods no scheduler looks at (there are no nodes): nothing changes them while we compare.
const pod = (name: string, container: JsonValue = {}) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { schedulerName: 'none', containers: [{ name: 'c', image: 'busybox', ...container }] } });

describe('ResourceQuota', () => {
  const ns = `${P}-quota`;

  it('refuses the third pod of pods=2 with upstream message and changes nothing; kubectl get quota shows used/hard', async () => {
    await namespace(ns);
    await kubectl(['create', 'quota', 'q', '--hard=pods=2,count/configmaps=5', '-n', ns]);
    // Admission refuses pods until the controller has counted the quota ("status unknown").
    await waitFor('quota counted', async () => (await json(['get', 'quota', 'q', '-n', ns])).status?.used?.pods === '0');
    expect((await json(['get', 'quota', 'q', '-n', ns])).status).toEqual({ hard: { 'count/configmaps': '5', pods: '2' }, used: { 'count/configmaps': '1', pods: '0' } });
    for (const n of ['a', 'b']) await kubectl(['apply', '-n', ns, '-f', '-'], pod(n));
    const before = await snapshot(ns);
    const quotaRv = before['ResourceQuota/q'];
    const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: pod('c') });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.trim()).toBe('Error from server (Forbidden): error when creating "STDIN": pods "c" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2');
    const after = await snapshot(ns);
    expect(after).toEqual(before);
    expect(after['ResourceQuota/q']).toBe(quotaRv);
    expect(after['Pod/c']).toBeUndefined();
    const table = await kubectl(['get', 'quota', '-n', ns]);
    expect(table.split('\n')[0]).toMatch(/^NAME\s+AGE\s+REQUEST\s+LIMIT$/);
    expect(table.split('\n')[1]).toMatch(/^q\s+\S+\s+count\/configmaps: 1\/5, pods: 2\/2\s*$/);
    expect(await kubectl(['describe', 'quota', 'q', '-n', ns])).toMatch(/pods\s+2\s+2/);
  });

  it('gives a deleted pod share back (the controller), and the pod that did not fit then fits', async () => {
    await kubectl(['delete', 'pod', 'a', '-n', ns, '--wait=false']);
    await waitFor('used back to 1', async () => (await json(['get', 'quota', 'q', '-n', ns])).status.used.pods === '1');
    await kubectl(['apply', '-n', ns, '-f', '-'], pod('c'));
    expect((await json(['get', 'quota', 'q', '-n', ns])).status.used.pods).toBe('2');
  });

  it('24 concurrent creates against pods=4 and requests.cpu=4: exactly 4 stored, all others refused with the quota message', async () => {
    const cns = `${P}-race`;
    await namespace(cns);
    await kubectl(['create', 'quota', 'race', '--hard=pods=4,requests.cpu=4', '-n', cns]);
    await waitFor('quota counted', async () => (await json(['get', 'quota', 'race', '-n', cns])).status?.used?.pods === '0');
    const body = (i: number) => JSON.parse(pod(`r${i}`, { resources: { requests: { cpu: '1' } } }));
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => api.request('POST', `/api/v1/namespaces/${cns}/pods`, body(i))));
    const created = results.filter((r) => r.status === 201);
    expect(created).toHaveLength(4);
    for (const r of results.filter((x) => x.status !== 201)) {
      expect(r.status).toBe(403);
      expect(r.json().message).toMatch(/^pods "r\d+" is forbidden: exceeded quota: race, requested: (pods=1|requests\.cpu=1|pods=1,requests\.cpu=1), used: /);
    }
    expect((await json(['get', 'pods', '-n', cns])).items).toHaveLength(4);
    expect((await json(['get', 'quota', 'race', '-n', cns])).status.used).toEqual({ pods: '4', 'requests.cpu': '4' });
  });
});

describe('bad quotas and limit ranges', () => {
  it('are refused with the field named, and nothing is stored', async () => {
    const ns = `${P}-bad`;
    await namespace(ns);
    const before = await snapshot(ns);
    const q = await cp.kubectl(['create', 'quota', 'neg', '--hard=pods=-1,widgets=2', '-n', ns]);
    expect(q.stderr.trim()).toBe(
      'error: failed to create quota: ResourceQuota "neg" is invalid: [spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0, ' +
        'spec.hard[widgets]: Invalid value: "widgets": must be a standard resource type or fully qualified, spec.hard[widgets]: Invalid value: "widgets": must be a standard resource for quota]',
    );
    const lr = await cp.kubectl(['apply', '-n', ns, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'lr' }, spec: { limits: [{ type: 'Container', min: { cpu: '1' }, max: { cpu: '500m' } }] } }),
    });
    expect(lr.stderr).toContain('spec.limits[0].min[cpu]: Invalid value: "1": min value 1 is greater than max value 500m');
    const wrongType = await api.request('POST', `/api/v1/namespaces/${ns}/resourcequotas`, { metadata: { name: 'x' }, spec: { hard: ['pods'] } });
    expect(wrongType.status).toBe(400);
    // Status is the controller's: a client's status on create is dropped.
    const r = await api.request('POST', `/api/v1/namespaces/${ns}/resourcequotas`, { metadata: { name: 'st' }, spec: { hard: { pods: '1' } }, status: { hard: { pods: '100' }, used: { pods: '0' } } });
    expect(r.status).toBe(201);
    expect(r.json().status).toBeUndefined();
    await kubectl(['delete', 'quota', 'st', '-n', ns]);
    const after = await snapshot(ns);
    delete after['ResourceQuota/st'];
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
  });
});

describe('PodSecurity', () => {
  it('a namespace labelled enforce=restricted refuses a privileged pod with upstream message and stores nothing', async () => {
    const ns = `${P}-restricted`;
    await namespace(ns, ['pod-security.kubernetes.io/enforce=restricted']);
    const nsRv = (await json(['get', 'namespace', ns])).metadata.resourceVersion;
    const before = await snapshot(ns);
    const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: pod('priv', { securityContext: { privileged: true } }) });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.trim()).toBe(
      'Error from server (Forbidden): error when creating "STDIN": pods "priv" is forbidden: violates PodSecurity "restricted:latest": ' +
        'privileged (container "c" must not set securityContext.privileged=true), ' +
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ' +
        'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ' +
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ' +
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    );
    expect(await snapshot(ns)).toEqual(before);
    expect((await json(['get', 'namespace', ns])).metadata.resourceVersion).toBe(nsRv);
    // A pod that meets the standard is stored.
    const compliant = {
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    };
    await kubectl(['apply', '-n', ns, '-f', '-'], pod('ok', compliant));
  });

  it('warn=restricted lets the pod in and kubectl prints the Warning', async () => {
    const ns = `${P}-warn`;
    await namespace(ns, ['pod-security.kubernetes.io/warn=restricted']);
    const r = await cp.kubectl(['run', 'w', '-n', ns, '--image=busybox', '--overrides', JSON.stringify({ spec: { schedulerName: 'none' } })]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('pod/w created');
    expect(r.stderr).toContain('Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "w" must set securityContext.allowPrivilegeEscalation=false)');
    // Raising enforce to a level the pod meets says nothing; to one it does not, warns about it.
    const l = await cp.kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=baseline', 'pod-security.kubernetes.io/enforce-version=v1.31']);
    expect(l.exitCode).toBe(0);
    expect(l.stderr).toBe('');
    const l2 = await cp.kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted', '--overwrite']);
    expect(l2.exitCode).toBe(0);
    expect(l2.stderr).toContain(`Warning: existing pods in namespace "${ns}" violate the new PodSecurity enforce level "restricted:v1.31"`);
    expect(l2.stderr).toContain('Warning: w: allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile');
    const bad = await cp.kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=lax', '--overwrite']);
    expect(bad.stderr.trim()).toBe(
      `The Namespace "${ns}" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "lax": must be one of privileged, baseline, restricted`,
    );
  });
});

describe('LimitRanger', () => {
  it('applies a LimitRange defaults to a pod and refuses one over its max', async () => {
    const ns = `${P}-limits`;
    await namespace(ns);
    await kubectl(
      ['apply', '-n', ns, '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'lr' }, spec: { limits: [{ type: 'Container', max: { cpu: '500m', memory: '512Mi' }, defaultRequest: { cpu: '100m' } }] } }),
    );
    expect(await kubectl(['get', 'limits', '-n', ns])).toMatch(/^NAME\s+CREATED AT\nlr\s+\d{4}-\d\d-\d\dT/);
    await kubectl(['apply', '-n', ns, '-f', '-'], pod('d'));
    const p = await json(['get', 'pod', 'd', '-n', ns]);
    expect(p.spec.containers[0].resources).toEqual({ limits: { cpu: '500m', memory: '512Mi' }, requests: { cpu: '100m', memory: '512Mi' } });
    expect(p.metadata.annotations['kubernetes.io/limit-ranger']).toBe('LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c');
    const before = await snapshot(ns);
    const r = await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: pod('big', { resources: { limits: { cpu: '2' } } }) });
    expect(r.stderr.trim()).toBe('Error from server (Forbidden): error when creating "STDIN": pods "big" is forbidden: maximum cpu usage per Container is 500m, but limit is 2');
    expect(await snapshot(ns)).toEqual(before);
  });
});
