// Non-apiserver pod sources: a manifest directory (static pods), a manifest URL and manifests
// POSTed to the kubelet server. Like upstream's config/common.go they get a UID derived from
// the manifest and node name (stable across restarts, so adoption works for static pods too),
// the name suffix -<nodeName>, and kubernetes.io/config.* annotations.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type YAMLNs from 'yaml';
import { A_CONFIG_HASH, A_CONFIG_SEEN, A_CONFIG_SOURCE } from './labels.js';
import type { Pod } from './types.js';

export type SourceName = 'api' | 'file' | 'http' | 'url';

// Only nodes with static pods or a manifest URL parse YAML: required on first use (RSS).
const requireCjs = createRequire(import.meta.url);

/** Parse one document or a list/multi-doc stream of Pods. */
export function parseManifests(text: string): Pod[] {
  const YAML = requireCjs('yaml') as typeof YAMLNs;
  const out: Pod[] = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    const obj = doc.toJSON() as { kind?: string; items?: Pod[] } | null;
    if (!obj) continue;
    if (obj.kind === 'PodList' || Array.isArray(obj.items)) out.push(...(obj.items ?? []));
    else if (obj.kind === 'Pod' || (obj as Pod).spec) out.push(obj as Pod);
  }
  return out;
}

/** Turn a manifest from a non-api source into the pod the kubelet runs. */
export function staticPod(raw: Pod, nodeName: string, source: SourceName, id: string): Pod {
  const pod: Pod = JSON.parse(JSON.stringify(raw));
  pod.metadata ??= {};
  if (!pod.metadata.name) throw new Error(`${id}: pod manifest has no metadata.name`);
  if (!pod.spec?.containers?.length) throw new Error(`${id}: pod ${pod.metadata.name} has no containers`);
  const hash = createHash('md5').update(nodeName).update(JSON.stringify(raw)).update(source).digest('hex');
  pod.metadata.name = `${pod.metadata.name}-${nodeName}`;
  pod.metadata.namespace ??= 'default';
  pod.metadata.uid = hash;
  pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), [A_CONFIG_HASH]: hash, [A_CONFIG_SOURCE]: source, [A_CONFIG_SEEN]: new Date().toISOString() };
  pod.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  pod.spec.nodeName = nodeName;
  pod.spec.restartPolicy ??= 'Always';
  pod.spec.terminationGracePeriodSeconds ??= 30;
  pod.spec.dnsPolicy ??= 'ClusterFirst';
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    c.imagePullPolicy ??= c.image.endsWith(':latest') || !c.image.includes(':') ? 'Always' : 'IfNotPresent';
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
  }
  pod.status = { phase: 'Pending' };
  return pod;
}

export async function readManifestDir(dir: string, nodeName: string): Promise<Pod[]> {
  const files = await fsp.readdir(dir).catch(() => [] as string[]);
  const out: Pod[] = [];
  for (const f of files.sort()) {
    if (f.startsWith('.') || !/\.(ya?ml|json)$/.test(f)) continue;
    const text = await fsp.readFile(path.join(dir, f), 'utf8').catch(() => '');
    try {
      for (const p of parseManifests(text)) out.push(staticPod(p, nodeName, 'file', f));
    } catch {
      /* a bad file is skipped, others still run (upstream logs and ignores) */
    }
  }
  return out;
}
