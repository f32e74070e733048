// Container environment as upstream's kubelet_pods.go makeEnvironmentVariables builds it:
// Service link variables first, then envFrom, then env (later wins), with $(VAR) expansion
// against what's defined so far. Lookups of ConfigMaps and Secrets come in through `refs`
// so this stays pure and testable.
import type { Container, EnvVar, Pod, Service } from './types.js';
import { intValue, milliValue } from '../../api/quantity.js';

export interface EnvRefs {
  configMap(namespace: string, name: string): Record<string, string> | undefined;
  /** Decoded secret data. */
  secret(namespace: string, name: string): Record<string, string> | undefined;
}

export interface EnvContext {
  podIP: string;
  podIPs: string[];
  hostIP: string;
  nodeName: string;
  /** Services in the pod's namespace, plus the `kubernetes` Service from default. */
  services: Service[];
  refs: EnvRefs;
  /** Node allocatable, for resourceFieldRef of containers without limits. */
  nodeAllocatable?: { cpu: string; memory: string; 'ephemeral-storage'?: string };
}

export class EnvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CreateContainerConfigError';
  }
}

function envName(serviceName: string): string {
  return serviceName.toUpperCase().replace(/-/g, '_');
}

/** The {NAME}_SERVICE_* and docker-link {NAME}_PORT* variables for one Service. */
export function serviceEnv(svc: Service): { name: string; value: string }[] {
  const ip = svc.spec.clusterIP;
  if (!ip || ip === 'None') return [];
  const ports = svc.spec.ports ?? [];
  if (ports.length === 0) return [];
  const n = envName(svc.metadata.name ?? '');
  const out: { name: string; value: string }[] = [];
  out.push({ name: `${n}_SERVICE_HOST`, value: ip });
  out.push({ name: `${n}_SERVICE_PORT`, value: String(ports[0]!.port) });
  for (const p of ports) {
    if (p.name) out.push({ name: `${n}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port) });
  }
  const proto0 = (ports[0]!.protocol ?? 'TCP').toLowerCase();
  const host = ip.includes(':') ? `[${ip}]` : ip;
  out.push({ name: `${n}_PORT`, value: `${proto0}://${host}:${ports[0]!.port}` });
  for (const p of ports) {
    const proto = (p.protocol ?? 'TCP');
    const prefix = `${n}_PORT_${p.port}_${proto.toUpperCase()}`;
    out.push({ name: prefix, value: `${proto.toLowerCase()}://${host}:${p.port}` });
    out.push({ name: `${prefix}_PROTO`, value: proto.toLowerCase() });
    out.push({ name: `${prefix}_PORT`, value: String(p.port) });
    out.push({ name: `${prefix}_ADDR`, value: ip });
  }
  return out;
}

/**
 * Expand $(VAR) references as upstream's third_party/forked/golang/expansion: `$$` escapes
 * a `$`, unknown references stay as written, an unterminated `$(` stays literal.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (ch === '$' && i + 1 < input.length) {
      const next = input[i + 1]!;
      if (next === '$') {
        out += '$';
        i += 2;
        continue;
      }
      if (next === '(') {
        const close = input.indexOf(')', i + 2);
        if (close < 0) {
          out += input.slice(i);
          break;
        }
        const name = input.slice(i + 2, close);
        const v = lookup(name);
        out += v !== undefined ? v : `$(${name})`;
        i = close + 1;
        continue;
      }
      out += ch + next;
      i += 2;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

/** Pod fields for fieldRef (env and downward API volumes). */
export function podFieldValue(pod: Pod, path: string, ctx: Pick<EnvContext, 'podIP' | 'podIPs' | 'hostIP' | 'nodeName'>): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'metadata.labels':
      return formatMap(pod.metadata.labels);
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations);
    case 'spec.nodeName':
      return pod.spec.nodeName ?? ctx.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? pod.spec.serviceAccount ?? 'default';
    case 'status.podIP':
      return ctx.podIP;
    case 'status.podIPs':
      return ctx.podIPs.join(',');
    case 'status.hostIP':
    case 'status.hostIPs':
      return ctx.hostIP;
    default:
      throw new EnvError(`unsupported fieldPath: ${path}`);
  }
}

/** key="value" lines sorted by key, as the downward API writes maps. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

/** resourceFieldRef: limits fall back to node allocatable; value rounded up in divisor units. */
export function resourceFieldValue(
  pod: Pod,
  containerName: string,
  resource: string,
  divisor: string | undefined,
  allocatable?: EnvContext['nodeAllocatable'],
): string {
  const c = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((x) => x.name === containerName);
  if (!c) throw new EnvError(`container ${containerName} not found for resourceFieldRef`);
  const [kind, res] = resource.split('.') as [string, string];
  let q = kind === 'limits' ? c.resources?.limits?.[res] : c.resources?.requests?.[res];
  if (q === undefined && kind === 'limits') q = (allocatable as Record<string, string> | undefined)?.[res];
  if (q === undefined) q = '0';
  const div = divisor && divisor !== '0' ? divisor : '1';
  // As upstream's ExtractContainerResourceValue: CPU in millicores, the rest in whole units.
  if (res === 'cpu') return String(Math.ceil(milliValue(q) / milliValue(div)));
  return String(Math.ceil(intValue(q) / intValue(div)));
}

function lookupKey(
  kind: 'configmap' | 'secret',
  ns: string,
  ref: { name: string; key: string; optional?: boolean },
  refs: EnvRefs,
): string | undefined {
  const data = kind === 'configmap' ? refs.configMap(ns, ref.name) : refs.secret(ns, ref.name);
  if (!data) {
    if (ref.optional) return undefined;
    throw new EnvError(`${kind} "${ref.name}" not found`);
  }
  if (!(ref.key in data)) {
    if (ref.optional) return undefined;
    throw new EnvError(`couldn't find key ${ref.key} in ${kind === 'configmap' ? 'ConfigMap' : 'Secret'} ${ns}/${ref.name}`);
  }
  return data[ref.key];
}

export function buildEnv(pod: Pod, c: Container, ctx: EnvContext): { name: string; value: string }[] {
  const ns = pod.metadata.namespace ?? 'default';
  const env = new Map<string, string>();

  // Service links (the pod's namespace, plus `kubernetes` from default), when enabled.
  const svcVars = new Map<string, string>();
  if (pod.spec.enableServiceLinks !== false) {
    for (const svc of ctx.services) {
      const sns = svc.metadata.namespace ?? 'default';
      if (sns !== ns && !(sns === 'default' && svc.metadata.name === 'kubernetes')) continue;
      for (const v of serviceEnv(svc)) svcVars.set(v.name, v.value);
    }
  } else {
    // Even without service links the master service is always visible (upstream behaviour).
    const k = ctx.services.find((s) => s.metadata.name === 'kubernetes' && (s.metadata.namespace ?? 'default') === 'default');
    if (k) for (const v of serviceEnv(k)) svcVars.set(v.name, v.value);
  }

  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    let data: Record<string, string> | undefined;
    if (from.configMapRef) {
      data = ctx.refs.configMap(ns, from.configMapRef.name);
      if (!data && !from.configMapRef.optional) throw new EnvError(`configmap "${from.configMapRef.name}" not found`);
    } else if (from.secretRef) {
      data = ctx.refs.secret(ns, from.secretRef.name);
      if (!data && !from.secretRef.optional) throw new EnvError(`secret "${from.secretRef.name}" not found`);
    }
    for (const [k, v] of Object.entries(data ?? {})) env.set(prefix + k, v);
  }

  const lookup = (name: string) => env.get(name) ?? svcVars.get(name);
  for (const e of c.env ?? []) env.set(e.name, envValue(pod, c, e, ctx, ns, lookup));

  const out: { name: string; value: string }[] = [];
  for (const [k, v] of svcVars) if (!env.has(k)) out.push({ name: k, value: v });
  for (const [k, v] of env) out.push({ name: k, value: v });
  return out;
}

function envValue(pod: Pod, c: Container, e: EnvVar, ctx: EnvContext, ns: string, lookup: (n: string) => string | undefined): string {
  if (e.value !== undefined) return expand(e.value, lookup);
  const vf = e.valueFrom;
  if (!vf) return '';
  if (vf.fieldRef) return podFieldValue(pod, vf.fieldRef.fieldPath, ctx);
  if (vf.resourceFieldRef) {
    return resourceFieldValue(pod, vf.resourceFieldRef.containerName || c.name, vf.resourceFieldRef.resource, vf.resourceFieldRef.divisor, ctx.nodeAllocatable);
  }
  if (vf.configMapKeyRef) return lookupKey('configmap', ns, vf.configMapKeyRef, ctx.refs) ?? '';
  if (vf.secretKeyRef) return lookupKey('secret', ns, vf.secretKeyRef, ctx.refs) ?? '';
  return '';
}

/** command/args with $(VAR) expanded against the final environment, as upstream does. */
export function expandCommand(args: string[] | undefined, env: { name: string; value: string }[]): string[] {
  const m = new Map(env.map((e) => [e.name, e.value]));
  return (args ?? []).map((a) => expand(a, (n) => m.get(n)));
}
