// Controllers upstream runs and a client expects, on the real control plane (its
// in-process controller manager), checked with the real kubectl:
// - serviceaccount: a `default` ServiceAccount in every namespace;
// - root-ca-cert-publisher: kube-root-ca.crt in every namespace, put back when deleted or edited;
// - the namespace deleter's status conditions on a namespace stuck on a finalizer;
// - endpointslice-mirroring: the Endpoints of a selectorless Service as EndpointSlices.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DESCRIPTION } from '../../control-plane/controllers/rootcacertpublisher.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { waitFor } from './controllers-cluster.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

let cp: TestControlPlane;
const P = `t${process.pid}`; // per-process names: other test processes may share nothing, but be safe

beforeAll(async () => {
  cp = await startTestControlPlane();
});
afterAll(async () => {
  await cp?.stop();
});

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, { input });
  if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = async (args: string[]): Promise<Obj> => JSON.parse(await kubectl([...args, '-o', 'json']));
const tryJson = async (args: string[]): Promise<Obj | undefined> => {
  const r = await cp.kubectl([...args, '-o', 'json']);
  return r.exitCode === 0 ? JSON.parse(r.stdout) : undefined;
};

describe('service accounts controller', () => {
  it('gives every namespace a default ServiceAccount, and puts it back when deleted', async () => {
    const ns = `${P}-sa`;
    await kubectl(['create', 'namespace', ns]);
    const sa = await waitFor('default in the new namespace', () => tryJson(['get', 'serviceaccount', 'default', '-n', ns]));
    for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) await waitFor(`default in ${n}`, () => tryJson(['get', 'sa', 'default', '-n', n]));
    await kubectl(['delete', 'serviceaccount', 'default', '-n', ns]);
    const back = await waitFor('recreated after delete', async () => {
      const s = await tryJson(['get', 'sa', 'default', '-n', ns]);
      return s && s.metadata.uid !== sa.metadata.uid && s;
    });
    expect(back.metadata.name).toBe('default');
  });
});

describe('root CA publisher', () => {
  it('publishes kube-root-ca.crt with the cluster CA in every namespace, and puts it back when deleted or edited', async () => {
    const ns = `${P}-ca`;
    await kubectl(['create', 'namespace', ns]);
    const cm = await waitFor('kube-root-ca.crt in the new namespace', () => tryJson(['get', 'configmap', 'kube-root-ca.crt', '-n', ns]));
    expect(cm.data).toEqual({ 'ca.crt': cp.caPem });
    expect(cm.metadata.annotations['kubernetes.io/description']).toBe(DESCRIPTION);
    for (const n of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      expect((await waitFor(`kube-root-ca.crt in ${n}`, () => tryJson(['get', 'cm', 'kube-root-ca.crt', '-n', n]))).data['ca.crt']).toBe(cp.caPem);
    }

    await kubectl(['delete', 'configmap', 'kube-root-ca.crt', '-n', ns]);
    const back = await waitFor('recreated after delete', async () => {
      const c = await tryJson(['get', 'cm', 'kube-root-ca.crt', '-n', ns]);
      return c && c.metadata.uid !== cm.metadata.uid && c;
    });
    expect(back.data['ca.crt']).toBe(cp.caPem);

    await kubectl(['patch', 'configmap', 'kube-root-ca.crt', '-n', ns, '--type=merge', '-p', '{"data":{"ca.crt":"not a CA","extra":"x"}}']);
    const fixed = await waitFor('restored after edit', async () => {
      const c = await tryJson(['get', 'cm', 'kube-root-ca.crt', '-n', ns]);
      return c && c.data['ca.crt'] === cp.caPem && c;
    });
    expect(fixed.data).toEqual({ 'ca.crt': cp.caPem });
    expect(fixed.metadata.uid).toBe(back.metadata.uid);
  });
});

describe('namespace deletion conditions', () => {
  it('a namespace stuck on a finalizer says what remains (NamespaceContentRemaining, NamespaceFinalizersRemaining)', async () => {
    const ns = `${P}-stuck`;
    await kubectl(['create', 'namespace', ns]);
    for (const name of ['held-1', 'held-2']) {
      await kubectl(['create', '-f', '-'], `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  finalizers: [example.com/hold]\n`);
    }
    await kubectl(['create', 'configmap', 'free', '-n', ns, '--from-literal=a=b']);
    await kubectl(['delete', 'namespace', ns, '--wait=false']);

    const nsObj = await waitFor('deletion conditions', async () => {
      const n = await json(['get', 'namespace', ns]);
      const c = (n.status?.conditions ?? []).find((x: Obj) => x.type === 'NamespaceFinalizersRemaining');
      return c?.status === 'True' && n;
    });
    expect(nsObj.status.phase).toBe('Terminating');
    const byType = Object.fromEntries((nsObj.status.conditions as Obj[]).map((c) => [c.type, c]));
    expect(Object.keys(byType).sort()).toEqual([
      'NamespaceContentRemaining',
      'NamespaceDeletionContentFailure',
      'NamespaceDeletionDiscoveryFailure',
      'NamespaceDeletionGroupVersionParsingFailure',
      'NamespaceFinalizersRemaining',
    ]);
    expect(byType.NamespaceContentRemaining).toMatchObject({
      status: 'True',
      reason: 'SomeResourcesRemain',
      message: 'Some resources are remaining: configmaps. has 2 resource instances',
    });
    expect(byType.NamespaceFinalizersRemaining).toMatchObject({
      status: 'True',
      reason: 'SomeFinalizersRemain',
      message: 'Some content in the namespace has finalizers remaining: example.com/hold in 2 resource instances',
    });
    expect(byType.NamespaceDeletionDiscoveryFailure).toMatchObject({ status: 'False', reason: 'ResourcesDiscovered', message: 'All resources successfully discovered' });
    expect(byType.NamespaceDeletionGroupVersionParsingFailure).toMatchObject({ status: 'False', reason: 'ParsedGroupVersions' });
    expect(byType.NamespaceDeletionContentFailure).toMatchObject({ status: 'False', reason: 'ContentDeleted' });
    for (const c of Object.values(byType) as Obj[]) expect(Date.parse(c.lastTransitionTime)).toBeGreaterThan(0);
    // everything without a finalizer went, kube-root-ca.crt included (not republished into a terminating namespace)
    const left = (await json(['get', 'configmaps', '-n', ns])).items.map((c: Obj) => c.metadata.name).sort();
    expect(left).toEqual(['held-1', 'held-2']);
    expect(await kubectl(['describe', 'namespace', ns])).toMatch(/NamespaceFinalizersRemaining\s+True\s+\S+.*SomeFinalizersRemain/);

    // one finalizer goes: the counts follow; then the other: the namespace goes
    await kubectl(['patch', 'configmap', 'held-1', '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await waitFor('one instance left', async () => {
      const n = await json(['get', 'namespace', ns]);
      const c = n.status.conditions.find((x: Obj) => x.type === 'NamespaceContentRemaining');
      return c.message === 'Some resources are remaining: configmaps. has 1 resource instances';
    }, 30_000);
    await kubectl(['patch', 'configmap', 'held-2', '-n', ns, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await waitFor('namespace gone', async () => (await cp.kubectl(['get', 'namespace', ns])).stderr.includes('not found'), 30_000);
  });
});

describe('EndpointSlice mirroring', () => {
  const ns = 'default';
  const slicesOf = async (svc: string): Promise<Obj[]> =>
    (await json(['get', 'endpointslices', '-n', ns, '-l', `kubernetes.io/service-name=${svc}`])).items as Obj[];
  const mirrored = async (svc: string) =>
    (await slicesOf(svc)).filter((s) => s.metadata.labels['endpointslice.kubernetes.io/managed-by'] === 'endpointslicemirroring-controller.k8s.io');
  const endpoints = (name: string, subsets: string) =>
    `apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  labels: {team: storage}\nsubsets:\n${subsets}`;

  it('mirrors the Endpoints of a selectorless Service, follows updates, and removes the slices with the Service', async () => {
    const svc = `${P}-ext`;
    await kubectl(['create', '-f', '-'], `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${svc}\n  namespace: ${ns}\nspec:\n  ports: [{name: http, port: 80, targetPort: 8080}]\n`);
    await kubectl(['create', '-f', '-'], endpoints(svc, [
      '- addresses: [{ip: 10.1.2.4, nodeName: n1}, {ip: 10.1.2.3}]',
      '  notReadyAddresses: [{ip: 10.1.2.5}]',
      '  ports: [{name: http, port: 8080}]',
      '',
    ].join('\n')));
    const [slice] = await waitFor('one mirrored slice', async () => {
      const l = await mirrored(svc);
      return l.length === 1 && l[0].endpoints?.length === 3 && l;
    });
    expect(slice.metadata.labels).toEqual({
      team: 'storage',
      'kubernetes.io/service-name': svc,
      'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io',
    });
    const ep = await json(['get', 'endpoints', svc, '-n', ns]);
    expect(slice.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Endpoints', name: svc, uid: ep.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    expect(slice.addressType).toBe('IPv4');
    expect(slice.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(slice.endpoints).toEqual([
      { addresses: ['10.1.2.3'], conditions: { ready: true } },
      { addresses: ['10.1.2.4'], conditions: { ready: true }, nodeName: 'n1' },
      { addresses: ['10.1.2.5'], conditions: { ready: false } },
    ]);
    expect(await kubectl(['get', 'endpointslices', '-n', ns, '-l', `kubernetes.io/service-name=${svc}`])).toMatch(/IPv4\s+8080\s+10\.1\.2\.3,10\.1\.2\.4,10\.1\.2\.5/);

    // update: one IPv4 address left and an IPv6 one: a slice per address family
    await kubectl(['replace', '-f', '-'], endpoints(svc, ['- addresses: [{ip: 10.1.2.3}, {ip: "fd00::1"}]', '  ports: [{name: http, port: 8080}]', ''].join('\n')));
    const byFamily = await waitFor('IPv4 and IPv6 slices', async () => {
      const l = await mirrored(svc);
      const v4 = l.find((s) => s.addressType === 'IPv4');
      const v6 = l.find((s) => s.addressType === 'IPv6');
      return l.length === 2 && v4?.endpoints?.length === 1 && v6 && { v4, v6 };
    });
    expect(byFamily.v4.metadata.name).toBe(slice.metadata.name); // updated in place
    expect(byFamily.v4.endpoints).toEqual([{ addresses: ['10.1.2.3'], conditions: { ready: true } }]);
    expect(byFamily.v6.endpoints).toEqual([{ addresses: ['fd00::1'], conditions: { ready: true } }]);

    // a mirrored slice deleted by hand comes back
    await kubectl(['delete', 'endpointslice', byFamily.v6.metadata.name, '-n', ns]);
    await waitFor('IPv6 slice back', async () => {
      const l = await mirrored(svc);
      return l.some((s) => s.addressType === 'IPv6' && s.metadata.uid !== byFamily.v6.metadata.uid);
    });

    await kubectl(['delete', 'service', svc, '-n', ns]);
    await waitFor('slices gone with the Service', async () => (await mirrored(svc)).length === 0);
  });

  it('leaves alone Endpoints labelled skip-mirror (the apiserver\'s own kubernetes) and Services that get a selector', async () => {
    const k = await json(['get', 'endpoints', 'kubernetes', '-n', 'default']);
    expect(k.metadata.labels['endpointslice.kubernetes.io/skip-mirror']).toBe('true');

    const svc = `${P}-skip`;
    await kubectl(['create', '-f', '-'], `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${svc}\n  namespace: ${ns}\nspec:\n  ports: [{port: 80}]\n`);
    await kubectl(['create', '-f', '-'], endpoints(svc, '- addresses: [{ip: 10.3.0.1}]\n  ports: [{port: 80}]\n'));
    await waitFor('mirrored', async () => (await mirrored(svc)).length === 1);
    await kubectl(['label', 'endpoints', svc, '-n', ns, 'endpointslice.kubernetes.io/skip-mirror=true']);
    await waitFor('unmirrored once labelled skip-mirror', async () => (await mirrored(svc)).length === 0);
    await kubectl(['label', 'endpoints', svc, '-n', ns, 'endpointslice.kubernetes.io/skip-mirror-']);
    await waitFor('mirrored again', async () => (await mirrored(svc)).length === 1);
    // a selector makes the Endpoints the endpoints controller's: no mirrored slice remains
    await kubectl(['patch', 'service', svc, '-n', ns, '--type=merge', '-p', '{"spec":{"selector":{"app":"nothing"}}}']);
    await waitFor('unmirrored once the Service has a selector', async () => (await mirrored(svc)).length === 0);
    // and the apiserver's kubernetes Endpoints was never mirrored
    expect(await mirrored('kubernetes')).toEqual([]);
    await kubectl(['delete', 'service', svc, '-n', ns]);
  });
});
