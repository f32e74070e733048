// API discovery through the apiserver's /api and /apis documents: which resources exist,
// in which group/version, namespaced or not, with which verbs. The namespace controller
// and the garbage collector work over every served resource, not a fixed list.
import type { KubeConfig } from '@kubernetes/client-node';
import { rawRequest } from './base/clients.js';

export interface DiscoveredResource {
  groupVersion: string; // "v1", "apps/v1"
  group: string;
  version: string;
  name: string; // plural
  kind: string;
  namespaced: boolean;
  verbs: string[];
  /** URL prefix: /api/v1 or /apis/<group>/<version> */
  prefix: string;
}

export async function discoverResources(kc: KubeConfig): Promise<DiscoveredResource[]> {
  const out: DiscoveredResource[] = [];
  const gvs: string[] = [];
  const core = await rawRequest<{ versions?: string[] }>(kc, 'GET', '/api');
  for (const v of core.versions ?? ['v1']) gvs.push(v);
  const groups = await rawRequest<{ groups?: Array<{ preferredVersion?: { groupVersion: string }; versions?: Array<{ groupVersion: string }> }> }>(kc, 'GET', '/apis');
  for (const g of groups.groups ?? []) {
    const gv = g.preferredVersion?.groupVersion ?? g.versions?.[0]?.groupVersion;
    if (gv) gvs.push(gv);
  }
  await Promise.all(
    gvs.map(async (gv) => {
      const prefix = gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`;
      const list = await rawRequest<{ resources?: Array<{ name: string; kind: string; namespaced: boolean; verbs?: string[] }> }>(kc, 'GET', prefix);
      const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
      for (const r of list.resources ?? []) {
        if (r.name.includes('/')) continue; // subresource
        out.push({ groupVersion: gv, group, version, name: r.name, kind: r.kind, namespaced: r.namespaced, verbs: r.verbs ?? [], prefix });
      }
    }),
  );
  return out;
}

/** Finds the resource for an ownerReference's apiVersion + kind. */
export function resourceFor(all: DiscoveredResource[], apiVersion: string, kind: string): DiscoveredResource | undefined {
  return all.find((r) => r.groupVersion === apiVersion && r.kind === kind);
}

export function objectPath(r: DiscoveredResource, namespace: string | undefined, name?: string): string {
  const base = r.namespaced && namespace ? `${r.prefix}/namespaces/${namespace}/${r.name}` : `${r.prefix}/${r.name}`;
  return name ? `${base}/${name}` : base;
}
