// API discovery through the apiserver's /api and /apis documents: which resources exist,
// in which group/version, namespaced or not, with which verbs. The namespace controller
// and the garbage collector work over every served resource, not a fixed list.
import type { KubeConfig } from '@kubernetes/client-node';
import { errorMessage, rawRequest } from './base/clients.js';

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

/**
 * Every resource the apiserver serves, and the group/versions whose document could not be
 * read (upstream's ErrGroupDiscoveryFailed): callers that can work with a partial list
 * (the namespace controller) use what was found and report the rest.
 */
export async function discover(kc: KubeConfig): Promise<{ resources: DiscoveredResource[]; failed: Map<string, string> }> {
  const out: DiscoveredResource[] = [];
  const failed = new Map<string, string>();
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
      let list: { resources?: Array<{ name: string; kind: string; namespaced: boolean; verbs?: string[] }> };
      try {
        list = await rawRequest(kc, 'GET', prefix);
      } catch (err) {
        failed.set(gv, errorMessage(err));
        return;
      }
      const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
      for (const r of list.resources ?? []) {
        if (r.name.includes('/')) continue; // subresource
        out.push({ groupVersion: gv, group, version, name: r.name, kind: r.kind, namespaced: r.namespaced, verbs: r.verbs ?? [], prefix });
      }
    }),
  );
  return { resources: out, failed };
}

/** Every served resource; throws when any group/version could not be read. */
export async function discoverResources(kc: KubeConfig): Promise<DiscoveredResource[]> {
  const { resources, failed } = await discover(kc);
  if (failed.size > 0) {
    const [gv, err] = [...failed][0]!;
    throw new Error(`discovery of ${gv} failed: ${err}`);
  }
  return resources;
}

/** Finds the resource for an ownerReference's apiVersion + kind. */
export function resourceFor(all: DiscoveredResource[], apiVersion: string, kind: string): DiscoveredResource | undefined {
  return all.find((r) => r.groupVersion === apiVersion && r.kind === kind);
}

export function objectPath(r: DiscoveredResource, namespace: string | undefined, name?: string): string {
  const base = r.namespaced && namespace ? `${r.prefix}/namespaces/${namespace}/${r.name}` : `${r.prefix}/${r.name}`;
  return name ? `${base}/${name}` : base;
}
