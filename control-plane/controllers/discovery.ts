// API discovery through the apiserver's /api and /apis documents: which resources exist,
// in which group/version, namespaced or not, with which verbs. The namespace controller
// and the garbage collector work over every served resource, not a fixed list.
import { type Client, errorMessage, type ResourceInfo } from '../../client/index.js';

export interface DiscoveredResource extends ResourceInfo {
  groupVersion: string; // "v1", "apps/v1"
  verbs: string[];
}

/**
 * Every resource the apiserver serves, and the group/versions whose document could not be
 * read (upstream's ErrGroupDiscoveryFailed): callers that can work with a partial list
 * (the namespace controller) use what was found and report the rest.
 */
export async function discover(client: Client): Promise<{ resources: DiscoveredResource[]; failed: Map<string, string> }> {
  const out: DiscoveredResource[] = [];
  const failed = new Map<string, string>();
  const gvs: string[] = [];
  const core = await client.discovery.coreVersions();
  for (const v of core.length ? core : ['v1']) gvs.push(v);
  for (const g of await client.discovery.groups()) {
    const gv = g.preferredVersion?.groupVersion ?? g.versions?.[0]?.groupVersion;
    if (gv) gvs.push(gv);
  }
  await Promise.all(
    gvs.map(async (gv) => {
      let list;
      try {
        list = await client.discovery.resources(gv);
      } catch (err) {
        failed.set(gv, errorMessage(err));
        return;
      }
      const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
      for (const r of list) {
        if (r.name.includes('/')) continue; // subresource
        out.push({ groupVersion: gv, group, version, plural: r.name, kind: r.kind, namespaced: r.namespaced, verbs: r.verbs ?? [] });
      }
    }),
  );
  return { resources: out, failed };
}

/** Every served resource; throws when any group/version could not be read. */
export async function discoverResources(client: Client): Promise<DiscoveredResource[]> {
  const { resources, failed } = await discover(client);
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
