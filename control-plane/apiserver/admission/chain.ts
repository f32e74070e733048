// The admission chain as kube-apiserver builds it: the plugins run in upstream's fixed order
// whatever order the flags name them in; --enable-admission-plugins adds to the default set,
// --disable-admission-plugins takes away from it; --admission-control-config-file (an
// apiserver.config.k8s.io/v1 AdmissionConfiguration) configures them (PodSecurity's
// defaults and exemptions). Unknown names and overlaps stop the start, as upstream.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseLevel, parseVersion, type Level, type Policy, type Version } from '../../../api/podsecurity.js';
import { isPlainObject, type JsonObject, type JsonValue } from '../../../api/object.js';
import { isDNS1123Label, isDNS1123Subdomain } from '../../../api/validation.js';
import type { ApiCore } from '../core.js';
import type { AdmissionPlugin } from './index.js';
import { LimitRanger } from './limitranger.js';
import { NamespaceLifecycle } from './namespacelifecycle.js';
import { NodeRestriction } from './noderestriction.js';
import { DEFAULT_POD_SECURITY_CONFIG, PodSecurity, type PodSecurityConfig } from './podsecurity.js';
import { ResourceQuotaAdmission } from './resourcequota.js';

/** Upstream's order (AllOrderedPlugins), restricted to the plugins k8ts has. All are on by default. */
export const ADMISSION_PLUGINS = ['NamespaceLifecycle', 'LimitRanger', 'ServiceAccount', 'NodeRestriction', 'PodSecurity', 'ResourceQuota'] as const;
export type AdmissionPluginName = (typeof ADMISSION_PLUGINS)[number];

interface PluginConfigs {
  podSecurity: PodSecurityConfig;
}

const FACTORIES: Partial<Record<AdmissionPluginName, (core: ApiCore, c: PluginConfigs) => AdmissionPlugin>> = {
  NamespaceLifecycle: (core) => new NamespaceLifecycle(core),
  LimitRanger: (core) => new LimitRanger(core),
  // ServiceAccount: its plugin (admission/serviceaccount.ts) registers here once it lands.
  NodeRestriction: (core) => new NodeRestriction(core),
  PodSecurity: (core, c) => new PodSecurity(core, c.podSecurity),
  ResourceQuota: (core) => new ResourceQuotaAdmission(core),
};

export class AdmissionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdmissionConfigError';
  }
}

export interface AdmissionOptions {
  enable?: string[];
  disable?: string[];
  configFile?: string;
}

/** The plugin names that run, in order. */
export function enabledPlugins(o: AdmissionOptions): AdmissionPluginName[] {
  const known = new Set<string>(ADMISSION_PLUGINS);
  const errs: string[] = [];
  for (const n of o.enable ?? []) if (!known.has(n)) errs.push(`enable-admission-plugins plugin ${JSON.stringify(n)} is unknown`);
  for (const n of o.disable ?? []) if (!known.has(n)) errs.push(`disable-admission-plugins plugin ${JSON.stringify(n)} is unknown`);
  const both = (o.enable ?? []).filter((n) => (o.disable ?? []).includes(n));
  if (both.length) errs.push(`[${[...new Set(both)].sort().join(' ')}] in enable-admission-plugins and disable-admission-plugins overlapped`);
  if (errs.length) throw new AdmissionConfigError(errs.join(', '));
  const off = new Set(o.disable ?? []);
  return ADMISSION_PLUGINS.filter((n) => !off.has(n));
}

/** The flags and configuration checked, before anything starts: throws AdmissionConfigError. */
export interface PreparedAdmission {
  names: AdmissionPluginName[];
  configs: PluginConfigs;
}

export function prepareAdmission(o: AdmissionOptions = {}): PreparedAdmission {
  const names = enabledPlugins(o);
  const configs: PluginConfigs = { podSecurity: DEFAULT_POD_SECURITY_CONFIG };
  if (o.configFile) Object.assign(configs, loadAdmissionConfiguration(o.configFile));
  return { names, configs };
}

/** The chain's plugins, in order. */
export function admissionChain(core: ApiCore, p: PreparedAdmission = prepareAdmission()): AdmissionPlugin[] {
  return p.names.flatMap((n) => {
    const f = FACTORIES[n];
    return f ? [f(core, p.configs)] : [];
  });
}

function readStructured(path: string, what: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new AdmissionConfigError(`failed to read ${what} ${JSON.stringify(path)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let v: JsonValue;
  try {
    v = parseYaml(text) as JsonValue;
  } catch (err) {
    throw new AdmissionConfigError(`failed to parse ${what} ${JSON.stringify(path)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isPlainObject(v)) throw new AdmissionConfigError(`${what} ${JSON.stringify(path)} is not an object`);
  return v;
}

/** The AdmissionConfiguration file: each plugin's configuration inline or at `path` (relative to the file). */
export function loadAdmissionConfiguration(file: string): Partial<PluginConfigs> {
  const doc = readStructured(file, 'admission configuration');
  if (doc.kind !== 'AdmissionConfiguration' || !['apiserver.config.k8s.io/v1', 'apiserver.k8s.io/v1alpha1'].includes(String(doc.apiVersion))) {
    throw new AdmissionConfigError(`${file}: expected apiVersion apiserver.config.k8s.io/v1, kind AdmissionConfiguration`);
  }
  const out: Partial<PluginConfigs> = {};
  for (const p of Array.isArray(doc.plugins) ? doc.plugins : []) {
    if (!isPlainObject(p) || p.name !== 'PodSecurity') continue;
    const cfg = isPlainObject(p.configuration) ? p.configuration : typeof p.path === 'string' ? readStructured(resolve(dirname(file), p.path), 'PodSecurity configuration') : undefined;
    if (cfg) out.podSecurity = podSecurityConfiguration(cfg);
  }
  return out;
}

const POD_SECURITY_VERSIONS = ['pod-security.admission.config.k8s.io/v1', 'pod-security.admission.config.k8s.io/v1beta1', 'pod-security.admission.config.k8s.io/v1alpha1'];

/** A PodSecurityConfiguration, defaulted (privileged:latest) and validated as upstream. */
export function podSecurityConfiguration(c: JsonObject): PodSecurityConfig {
  if (c.kind !== 'PodSecurityConfiguration' || !POD_SECURITY_VERSIONS.includes(String(c.apiVersion))) {
    throw new AdmissionConfigError('PodSecurity: expected apiVersion pod-security.admission.config.k8s.io/v1, kind PodSecurityConfiguration');
  }
  const d = isPlainObject(c.defaults) ? c.defaults : {};
  const e = isPlainObject(c.exemptions) ? c.exemptions : {};
  const errs: string[] = [];
  const level = (k: string): Level => {
    const v = typeof d[k] === 'string' && d[k] !== '' ? String(d[k]) : 'privileged';
    const r = parseLevel(v);
    if (r.error) errs.push(`defaults.${k}: Invalid value: ${JSON.stringify(v)}: ${r.error}`);
    return r.level;
  };
  const version = (k: string): Version => {
    const v = typeof d[k] === 'string' && d[k] !== '' ? String(d[k]) : 'latest';
    const r = parseVersion(v);
    if (r.error) errs.push(`defaults.${k}: Invalid value: ${JSON.stringify(v)}: ${r.error}`);
    return r.version;
  };
  const defaults: Policy = {
    enforce: { level: level('enforce'), version: version('enforce-version') },
    warn: { level: level('warn'), version: version('warn-version') },
    audit: { level: level('audit'), version: version('audit-version') },
  };
  const list = (k: string, check: (s: string) => string[]): string[] => {
    const seen: string[] = [];
    (Array.isArray(e[k]) ? e[k] : []).forEach((v: JsonValue, i: number) => {
      const s = String(v);
      const bad = check(s);
      if (bad.length) errs.push(`exemptions.${k}[${i}]: Invalid value: ${JSON.stringify(s)}: ${bad.join(', ')}`);
      else if (seen.includes(s)) errs.push(`exemptions.${k}[${i}]: Duplicate value: ${JSON.stringify(s)}`);
      else seen.push(s);
    });
    return seen;
  };
  const exemptions = {
    namespaces: list('namespaces', isDNS1123Label),
    runtimeClasses: list('runtimeClasses', isDNS1123Subdomain),
    usernames: list('usernames', (s) => (s === '' ? ['username must not be empty'] : [])),
  };
  if (errs.length) throw new AdmissionConfigError(`PodSecurity: ${errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`}`);
  return { defaults, exemptions };
}
