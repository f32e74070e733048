// The objects every cluster has, kept by the apiserver itself as upstream's controlplane
// controllers do (systemnamespaces, kubernetesservice): the system namespaces, and the
// `kubernetes` Service in default with its Endpoints pointing at this apiserver.
import type { KObject, ResourceDef } from '../../api/registry.js';
import { StatusError } from '../../api/status.js';
import { keyFor, type ApiCore } from './core.js';

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

async function ensure(core: ApiCore, def: ResourceDef, ns: string | undefined, obj: KObject): Promise<void> {
  if (await core.store.get(keyFor(def, ns, obj.metadata!.name))) return;
  try {
    await core.create(def, ns, obj, {});
  } catch (err) {
    if (err instanceof StatusError && err.code === 409) return;
    throw err;
  }
}

export async function ensureSystemObjects(core: ApiCore, o: { advertiseAddress?: string; securePort: number }): Promise<void> {
  for (const name of SYSTEM_NAMESPACES) await ensure(core, core.nsDef, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const svcDef = core.find('', 'v1', 'services');
  if (!svcDef) return;
  await ensure(core, svcDef, 'default', {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: {
      type: 'ClusterIP',
      clusterIP: core.clusterIPs.firstIP(),
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: o.securePort }],
      sessionAffinity: 'None',
    },
  });
  const epDef = core.find('', 'v1', 'endpoints');
  if (!epDef || !o.advertiseAddress) return;
  const want = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
    subsets: [{ addresses: [{ ip: o.advertiseAddress }], ports: [{ name: 'https', port: o.securePort, protocol: 'TCP' }] }],
  };
  const cur = await core.store.get(keyFor(epDef, 'default', 'kubernetes'));
  if (!cur) await ensure(core, epDef, 'default', want);
  else if (JSON.stringify(JSON.parse(cur.value).subsets) !== JSON.stringify(want.subsets)) {
    await core.updateWith(epDef, 'default', 'kubernetes', (old) => ({ ...old, subsets: want.subsets }), {});
  }
}
