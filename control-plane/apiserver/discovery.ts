// Legacy discovery documents (/api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>) and /version.
// kubectl 1.32 asks for aggregated discovery first but falls back to these when the answer's
// Content-Type is plain application/json. Built once: the resource table is static.
import type { ResourceDef } from '../../api/registry.js';

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

interface SubInfo {
  kind: string;
  group?: string;
  version?: string;
  verbs: string[];
}

function subresourceInfo(def: ResourceDef, sub: string): SubInfo | undefined {
  switch (sub) {
    case 'status':
      return { kind: def.kind, verbs: ['get', 'patch', 'update'] };
    case 'scale':
      return { kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] };
    case 'binding':
      return { kind: 'Binding', verbs: ['create'] };
    case 'finalize':
      return { kind: def.kind, verbs: ['update'] };
    case 'log':
      return { kind: 'Pod', verbs: ['get'] };
    case 'exec':
      return { kind: 'PodExecOptions', verbs: ['create', 'get'] };
    case 'attach':
      return { kind: 'PodAttachOptions', verbs: ['create', 'get'] };
    case 'portforward':
      return { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] };
    case 'eviction':
      return { kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] };
    case 'proxy':
      return { kind: def.kind === 'Pod' ? 'PodProxyOptions' : def.kind === 'Node' ? 'NodeProxyOptions' : 'ServiceProxyOptions', verbs: ['create', 'delete', 'get', 'patch', 'update'] };
    default:
      return undefined;
  }
}

export interface Discovery {
  api: string; // /api
  apis: string; // /apis
  groups: Map<string, string>; // /apis/<g>
  resourceLists: Map<string, string>; // "v1" or "<g>/<v>" -> APIResourceList JSON
}

export function buildDiscovery(defs: ResourceDef[], serverAddress: string): Discovery {
  const byGv = new Map<string, ResourceDef[]>();
  for (const d of defs) {
    const gv = d.group ? `${d.group}/${d.version}` : d.version;
    if (!byGv.has(gv)) byGv.set(gv, []);
    byGv.get(gv)!.push(d);
  }
  const resourceLists = new Map<string, string>();
  for (const [gv, list] of byGv) {
    const resources: Record<string, unknown>[] = [];
    for (const d of list) {
      const r: Record<string, unknown> = {
        name: d.plural,
        singularName: d.singular,
        namespaced: d.namespaced,
        kind: d.kind,
        verbs: d.verbs ?? ALL_VERBS,
      };
      if (d.shortNames?.length) r.shortNames = d.shortNames;
      if (d.categories?.length) r.categories = d.categories;
      resources.push(r);
      for (const sub of d.subresources) {
        const info = subresourceInfo(d, sub);
        if (!info) continue;
        const s: Record<string, unknown> = { name: `${d.plural}/${sub}`, singularName: '', namespaced: d.namespaced, kind: info.kind, verbs: info.verbs };
        if (info.group) s.group = info.group;
        if (info.version) s.version = info.version;
        resources.push(s);
      }
    }
    if (gv === 'v1' && list.some((d) => d.plural === 'pods')) {
      resources.push({ name: 'bindings', singularName: 'binding', namespaced: true, kind: 'Binding', verbs: ['create'] });
    }
    resources.sort((a, b) => String(a.name).localeCompare(String(b.name)));
    resourceLists.set(gv, JSON.stringify({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources }));
  }
  const groupNames = [...new Set(defs.filter((d) => d.group).map((d) => d.group))];
  const groups = new Map<string, string>();
  const groupObjs = groupNames.map((g) => {
    const versions = [...new Set(defs.filter((d) => d.group === g).map((d) => d.version))].map((v) => ({ groupVersion: `${g}/${v}`, version: v }));
    const obj = { kind: 'APIGroup', apiVersion: 'v1', name: g, versions, preferredVersion: versions[0] };
    groups.set(g, JSON.stringify(obj));
    return { name: g, versions, preferredVersion: versions[0] };
  });
  return {
    api: JSON.stringify({
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
    }),
    apis: JSON.stringify({ kind: 'APIGroupList', apiVersion: 'v1', groups: groupObjs }),
    groups,
    resourceLists,
  };
}

export const VERSION_INFO = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-k8ts',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: `node${process.versions.node}`,
  compiler: 'k8ts',
  platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
};
