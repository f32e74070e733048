// The Pod Security Standards as upstream's k8s.io/pod-security-admission evaluates them:
// the baseline and restricted checks with their policy versions, the namespace labels
// (pod-security.kubernetes.io/enforce|audit|warn and their -version labels) resolved into a
// policy, and the messages ("privileged (container \"c\" must not set
// securityContext.privileged=true)"). Pure functions over plain pod JSON.
import type { FieldError } from './registry.js';
import { invalidField } from './field.js';
import { isPlainObject, type JsonObject, type JsonValue } from './object.js';

type Obj = JsonObject;
const obj = (v: JsonValue): Obj => (isPlainObject(v) ? v : {});
const arr = (v: JsonValue): Obj[] => (Array.isArray(v) ? v.filter(isPlainObject) : []);

export type Level = 'privileged' | 'baseline' | 'restricted';
export const LEVELS: Level[] = ['privileged', 'baseline', 'restricted'];

/** A policy version: v1.<minor>, or latest (newer than any). */
export interface Version {
  minor: number;
  latest?: boolean;
}
export const LATEST: Version = { minor: Infinity, latest: true };

export const versionString = (v: Version): string => (v.latest ? 'latest' : `v1.${v.minor}`);

export interface LevelVersion {
  level: Level;
  version: Version;
}
export const levelVersionString = (lv: LevelVersion): string => `${lv.level}:${versionString(lv.version)}`;

export interface Policy {
  enforce: LevelVersion;
  audit: LevelVersion;
  warn: LevelVersion;
}

const PREFIX = 'pod-security.kubernetes.io/';
export const LABELS = {
  enforce: `${PREFIX}enforce`,
  enforceVersion: `${PREFIX}enforce-version`,
  audit: `${PREFIX}audit`,
  auditVersion: `${PREFIX}audit-version`,
  warn: `${PREFIX}warn`,
  warnVersion: `${PREFIX}warn-version`,
} as const;

/** ParseLevel: an unknown level reads as restricted, with an error. */
export function parseLevel(s: string): { level: Level; error?: string } {
  if ((LEVELS as string[]).includes(s)) return { level: s as Level };
  return { level: 'restricted', error: `must be one of ${LEVELS.join(', ')}` };
}

/** ParseVersion: "latest" or "v1.<minor>"; anything else reads as latest, with an error. */
export function parseVersion(s: string): { version: Version; error?: string } {
  if (s === 'latest') return { version: LATEST };
  const m = /^v1\.([0-9]|[1-9][0-9]*)$/.exec(s);
  if (!m || !Number.isSafeInteger(Number(m[1]))) return { version: LATEST, error: 'must be "latest" or "v1.x"' };
  return { version: { minor: Number(m[1]) } };
}

export function compareLevels(a: Level, b: Level): number {
  return LEVELS.indexOf(a) - LEVELS.indexOf(b);
}

export const PRIVILEGED_POLICY: Policy = {
  enforce: { level: 'privileged', version: LATEST },
  audit: { level: 'privileged', version: LATEST },
  warn: { level: 'privileged', version: LATEST },
};

const own = (labels: Obj, k: string): string | undefined => (Object.prototype.hasOwnProperty.call(labels, k) && typeof labels[k] === 'string' ? labels[k] : undefined);

/**
 * PolicyToEvaluate: the namespace's labels over the defaults. Bad values are reported (as
 * metadata.labels[...] errors) and fail closed for enforce, open for audit and warn; warn
 * follows a stricter enforce level unless it is set itself.
 */
export function policyToEvaluate(labels: JsonValue, defaults: Policy = PRIVILEGED_POLICY): { policy: Policy; errors: FieldError[] } {
  const l = obj(labels);
  const p: Policy = { enforce: { ...defaults.enforce }, audit: { ...defaults.audit }, warn: { ...defaults.warn } };
  const errors: FieldError[] = [];
  const err = (label: string, value: string, e?: string) => {
    if (e) errors.push(invalidField(`metadata.labels[${label}]`, value, e));
  };
  let hasEnforceLevel = false;
  let hasWarnLevel = false;
  let hasWarnVersion = false;
  const ev = own(l, LABELS.enforce);
  if (ev !== undefined) {
    const r = parseLevel(ev);
    p.enforce.level = r.level;
    hasEnforceLevel = !r.error;
    err(LABELS.enforce, ev, r.error);
  }
  const evv = own(l, LABELS.enforceVersion);
  if (evv !== undefined) {
    const r = parseVersion(evv);
    p.enforce.version = r.version;
    err(LABELS.enforceVersion, evv, r.error);
  }
  const av = own(l, LABELS.audit);
  if (av !== undefined) {
    const r = parseLevel(av);
    p.audit.level = r.error ? 'privileged' : r.level;
    err(LABELS.audit, av, r.error);
  }
  const avv = own(l, LABELS.auditVersion);
  if (avv !== undefined) {
    const r = parseVersion(avv);
    p.audit.version = r.version;
    err(LABELS.auditVersion, avv, r.error);
  }
  const wv = own(l, LABELS.warn);
  if (wv !== undefined) {
    hasWarnLevel = true;
    const r = parseLevel(wv);
    p.warn.level = r.error ? 'privileged' : r.level;
    err(LABELS.warn, wv, r.error);
  }
  const wvv = own(l, LABELS.warnVersion);
  if (wvv !== undefined) {
    hasWarnVersion = true;
    const r = parseVersion(wvv);
    p.warn.version = r.version;
    err(LABELS.warnVersion, wvv, r.error);
  }
  if (!hasWarnLevel && hasEnforceLevel && compareLevels(p.enforce.level, p.warn.level) > 0) {
    p.warn.level = p.enforce.level;
    if (!hasWarnVersion) p.warn.version = p.enforce.version;
  }
  return { policy: p, errors };
}

export const fullyPrivileged = (p: Policy): boolean => p.enforce.level === 'privileged' && p.audit.level === 'privileged' && p.warn.level === 'privileged';

export function sameLevelVersion(a: LevelVersion, b: LevelVersion): boolean {
  return (a.level === 'privileged' && b.level === 'privileged') || (a.level === b.level && a.version.minor === b.version.minor && !!a.version.latest === !!b.version.latest);
}

// ---------- the checks ----------

export interface CheckResult {
  allowed: boolean;
  reason?: string;
  detail?: string;
}
const ALLOWED: CheckResult = { allowed: true };
type CheckFn = (meta: Obj, spec: Obj) => CheckResult;

interface VersionedCheck {
  minimum: number;
  check: CheckFn;
  overrides?: string[];
}
interface Check {
  id: string;
  level: 'baseline' | 'restricted';
  versions: VersionedCheck[];
}

const pluralize = (one: string, many: string, n: number) => (n === 1 ? one : many);
const joinQuote = (items: string[]) => (items.length ? `"${items.join('", "')}"` : '');
const sortedUnique = (s: Iterable<string>) => [...new Set(s)].sort();
const containersPhrase = (names: string[]) => `${pluralize('container', 'containers', names.length)} ${joinQuote(names)}`;

const visited = new WeakMap<Obj, Obj[]>();

/** visitContainers: init containers, containers, then ephemeral containers (listed once per pod spec and evaluation). */
function containers(spec: Obj): Obj[] {
  let l = visited.get(spec);
  if (!l) visited.set(spec, (l = [...arr(spec.initContainers), ...arr(spec.containers), ...arr(spec.ephemeralContainers)]));
  return l;
}
const sc = (c: Obj): Obj => obj(c.securityContext);
const name = (c: Obj): string => String(c.name ?? '');
const isWindows = (spec: Obj) => obj(spec.os).name === 'windows';

/** The names of the containers `pred` holds for (no closure per call: checks run on every pod). */
function namesWhere(spec: Obj, pred: (c: Obj) => boolean): string[] {
  let out: string[] | undefined;
  for (const c of containers(spec)) if (pred(c)) (out ??= []).push(name(c));
  return out ?? NONE;
}
const NONE: string[] = [];
const isPrivileged = (c: Obj) => sc(c).privileged === true;
const escalates = (c: Obj) => sc(c).allowPrivilegeEscalation !== false;
const runsAsRoot = (c: Obj) => sc(c).runAsUser === 0;
const hostProcess = (o: JsonValue) => obj(obj(o).windowsOptions).hostProcess === true;
const containerHostProcess = (c: Obj) => hostProcess(c.securityContext);
const isSet = (v: Obj, k: string) => v[k] !== undefined && v[k] !== null;

function privileged(_m: Obj, spec: Obj): CheckResult {
  const bad = namesWhere(spec, isPrivileged);
  if (!bad.length) return ALLOWED;
  return { allowed: false, reason: 'privileged', detail: `${containersPhrase(bad)} must not set securityContext.privileged=true` };
}

const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);

function capabilitiesBaseline(_m: Obj, spec: Obj): CheckResult {
  const bad: string[] = [];
  const caps = new Set<string>();
  for (const c of containers(spec)) {
    const add: JsonValue[] = Array.isArray(obj(sc(c).capabilities).add) ? obj(sc(c).capabilities).add : [];
    let valid = true;
    for (const cap of add.map(String)) {
      if (!BASELINE_CAPABILITIES.has(cap)) {
        valid = false;
        caps.add(cap);
      }
    }
    if (!valid) bad.push(name(c));
  }
  if (!bad.length) return ALLOWED;
  return { allowed: false, reason: 'non-default capabilities', detail: `${containersPhrase(bad)} must not include ${joinQuote(sortedUnique(caps))} in securityContext.capabilities.add` };
}

function hostNamespaces(_m: Obj, spec: Obj): CheckResult {
  const set: string[] = [];
  if (spec.hostNetwork === true) set.push('hostNetwork=true');
  if (spec.hostPID === true) set.push('hostPID=true');
  if (spec.hostIPC === true) set.push('hostIPC=true');
  return set.length ? { allowed: false, reason: 'host namespaces', detail: set.join(', ') } : ALLOWED;
}

function hostPathVolumes(_m: Obj, spec: Obj): CheckResult {
  const vols: string[] = [];
  for (const v of arr(spec.volumes)) if (isSet(v, 'hostPath')) vols.push(String(v.name ?? ''));
  return vols.length ? { allowed: false, reason: 'hostPath volumes', detail: `${pluralize('volume', 'volumes', vols.length)} ${joinQuote(vols)}` } : ALLOWED;
}

function hostPorts(_m: Obj, spec: Obj): CheckResult {
  const bad: string[] = [];
  const ports = new Set<string>();
  for (const c of containers(spec)) {
    let valid = true;
    for (const p of arr(c.ports)) {
      if (typeof p.hostPort === 'number' && p.hostPort !== 0) {
        valid = false;
        ports.add(String(p.hostPort));
      }
    }
    if (!valid) bad.push(name(c));
  }
  if (!bad.length) return ALLOWED;
  const list = sortedUnique(ports);
  return {
    allowed: false,
    reason: 'hostPort',
    detail: `${containersPhrase(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('hostPort', 'hostPorts', list.length)} ${list.join(', ')}`,
  };
}

const allowedAppArmorType = (t: JsonValue) => t === 'RuntimeDefault' || t === 'Localhost';

function appArmorProfile(meta: Obj, spec: Obj): CheckResult {
  const allowedType = allowedAppArmorType;
  const setters: string[] = [];
  const values = new Set<string>();
  const podProfile = obj(spec.securityContext).appArmorProfile;
  if (isPlainObject(podProfile) && !allowedType(podProfile.type)) {
    setters.push('pod');
    values.add(String(podProfile.type ?? ''));
  }
  const bad: string[] = [];
  for (const c of containers(spec)) {
    const p = sc(c).appArmorProfile;
    if (isPlainObject(p) && !allowedType(p.type)) {
      bad.push(name(c));
      values.add(String(p.type ?? ''));
    }
  }
  if (bad.length) setters.push(containersPhrase(bad));
  const badValues = sortedUnique(values);
  const annotations: string[] = [];
  for (const [k, v] of Object.entries(obj(meta.annotations))) {
    if (!k.startsWith('container.apparmor.security.beta.kubernetes.io/')) continue;
    const s = String(v);
    if (s === '' || s === 'runtime/default' || s.startsWith('localhost/')) continue;
    annotations.push(`${k}=${JSON.stringify(s)}`);
  }
  if (annotations.length) {
    badValues.push(...annotations.sort());
    setters.push(pluralize('annotation', 'annotations', annotations.length));
  }
  if (!setters.length) return ALLOWED;
  return {
    allowed: false,
    reason: pluralize('forbidden AppArmor profile', 'forbidden AppArmor profiles', badValues.length),
    detail: `${setters.join(' and ')} must not set AppArmor profile type to ${joinQuote(badValues)}`,
  };
}

function seLinuxOptions(allowed: Set<string>): CheckFn {
  return (_m, spec) => {
    if (!isPlainObject(obj(spec.securityContext).seLinuxOptions) && !containers(spec).some(hasSELinuxOptions)) return ALLOWED;
    const setters: string[] = [];
    const types = new Set<string>();
    let setUser = false;
    let setRole = false;
    const valid = (o: Obj) => {
      let ok = true;
      const t = typeof o.type === 'string' ? o.type : '';
      if (!allowed.has(t)) {
        ok = false;
        types.add(t);
      }
      if (typeof o.user === 'string' && o.user) {
        ok = false;
        setUser = true;
      }
      if (typeof o.role === 'string' && o.role) {
        ok = false;
        setRole = true;
      }
      return ok;
    };
    const podOpts = obj(spec.securityContext).seLinuxOptions;
    if (isPlainObject(podOpts) && !valid(podOpts)) setters.push('pod');
    const bad = containers(spec).filter((c) => isPlainObject(sc(c).seLinuxOptions) && !valid(sc(c).seLinuxOptions)).map(name);
    if (bad.length) setters.push(containersPhrase(bad));
    if (!setters.length) return ALLOWED;
    const data: string[] = [];
    const t = sortedUnique(types);
    if (t.length) data.push(`${pluralize('type', 'types', t.length)} ${joinQuote(t)}`);
    if (setUser) data.push('user may not be set');
    if (setRole) data.push('role may not be set');
    return { allowed: false, reason: 'seLinuxOptions', detail: `${setters.join(' and ')} set forbidden securityContext.seLinuxOptions: ${data.join('; ')}` };
  };
}

const hasSELinuxOptions = (c: Obj) => isPlainObject(sc(c).seLinuxOptions);

function procMount(_m: Obj, spec: Obj): CheckResult {
  const bad: string[] = [];
  const types = new Set<string>();
  for (const c of containers(spec)) {
    const pm = sc(c).procMount;
    if (pm === undefined || pm === null) continue;
    if (pm !== 'Default') {
      bad.push(name(c));
      types.add(String(pm));
    }
  }
  if (!bad.length) return ALLOWED;
  return { allowed: false, reason: 'procMount', detail: `${containersPhrase(bad)} must not set securityContext.procMount to ${joinQuote(sortedUnique(types))}` };
}

const validSeccomp = (t: JsonValue) => t === 'Localhost' || t === 'RuntimeDefault';
const validSeccompAnnotation = (v: string) => v === 'runtime/default' || v === 'docker/default' || v.startsWith('localhost/');

function seccompBaseline10(meta: Obj, spec: Obj): CheckResult {
  const ann = obj(meta.annotations);
  const forbidden = new Set<string>();
  const podKey = 'seccomp.security.alpha.kubernetes.io/pod';
  if (Object.prototype.hasOwnProperty.call(ann, podKey) && !validSeccompAnnotation(String(ann[podKey]))) forbidden.add(`${podKey}=${JSON.stringify(String(ann[podKey]))}`);
  for (const c of containers(spec)) {
    const k = `container.seccomp.security.alpha.kubernetes.io/${name(c)}`;
    if (Object.prototype.hasOwnProperty.call(ann, k) && !validSeccompAnnotation(String(ann[k]))) forbidden.add(`${k}=${JSON.stringify(String(ann[k]))}`);
  }
  if (!forbidden.size) return ALLOWED;
  return { allowed: false, reason: 'seccompProfile', detail: `forbidden ${pluralize('annotation', 'annotations', forbidden.size)} ${sortedUnique(forbidden).join(', ')}` };
}

function seccomp(restricted: boolean): CheckFn {
  return (_m, spec) => {
    const setters: string[] = [];
    const values = new Set<string>();
    let podSet = false;
    const podProfile = obj(spec.securityContext).seccompProfile;
    if (isPlainObject(podProfile)) {
      if (!validSeccomp(podProfile.type)) {
        setters.push('pod');
        values.add(String(podProfile.type ?? ''));
      } else podSet = true;
    }
    const explicit: string[] = [];
    const implicit: string[] = [];
    for (const c of containers(spec)) {
      const p = sc(c).seccompProfile;
      if (isPlainObject(p)) {
        if (!validSeccomp(p.type)) {
          explicit.push(name(c));
          values.add(String(p.type ?? ''));
        }
      } else if (!podSet) implicit.push(name(c));
    }
    if (explicit.length) setters.push(containersPhrase(explicit));
    if (setters.length) {
      return { allowed: false, reason: 'seccompProfile', detail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sortedUnique(values))}` };
    }
    if (restricted && implicit.length) {
      return { allowed: false, reason: 'seccompProfile', detail: `pod or ${containersPhrase(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"` };
    }
    return ALLOWED;
  };
}

const SYSCTLS_1_0 = ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_unprivileged_port_start'];
const SYSCTLS_1_27 = [...SYSCTLS_1_0, 'net.ipv4.ip_local_reserved_ports'];
const SYSCTLS_1_29 = [...SYSCTLS_1_27, 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes'];
const SYSCTLS_1_32 = [...SYSCTLS_1_29, 'net.ipv4.tcp_rmem', 'net.ipv4.tcp_wmem'];

function sysctls(allowed: string[]): CheckFn {
  const set = new Set(allowed);
  return (_m, spec) => {
    if (!Array.isArray(obj(spec.securityContext).sysctls)) return ALLOWED;
    const bad = arr(obj(spec.securityContext).sysctls)
      .map((s) => String(s.name ?? ''))
      .filter((n) => !set.has(n));
    return bad.length ? { allowed: false, reason: 'forbidden sysctls', detail: bad.join(', ') } : ALLOWED;
  };
}

function windowsHostProcess(_m: Obj, spec: Obj): CheckResult {
  const setters: string[] = [];
  if (hostProcess(spec.securityContext)) setters.push('pod');
  const bad = namesWhere(spec, containerHostProcess);
  if (bad.length) setters.push(containersPhrase(bad));
  return setters.length ? { allowed: false, reason: 'hostProcess', detail: `${setters.join(' and ')} must not set securityContext.windowsOptions.hostProcess=true` } : ALLOWED;
}

function allowPrivilegeEscalation(windowsExempt: boolean): CheckFn {
  return (_m, spec) => {
    if (windowsExempt && isWindows(spec)) return ALLOWED;
    const bad = namesWhere(spec, escalates);
    if (!bad.length) return ALLOWED;
    return { allowed: false, reason: 'allowPrivilegeEscalation != false', detail: `${containersPhrase(bad)} must set securityContext.allowPrivilegeEscalation=false` };
  };
}

function capabilitiesRestricted(windowsExempt: boolean): CheckFn {
  return (_m, spec) => {
    if (windowsExempt && isWindows(spec)) return ALLOWED;
    const missingDrop: string[] = [];
    const adding: string[] = [];
    const caps = new Set<string>();
    for (const c of containers(spec)) {
      const capabilities = sc(c).capabilities;
      if (!isPlainObject(capabilities)) {
        missingDrop.push(name(c));
        continue;
      }
      const drop: JsonValue[] = Array.isArray(capabilities.drop) ? capabilities.drop : [];
      if (!drop.includes('ALL')) missingDrop.push(name(c));
      const add: JsonValue[] = Array.isArray(capabilities.add) ? capabilities.add : [];
      let forbidden = false;
      for (const cap of add.map(String)) {
        if (cap !== 'NET_BIND_SERVICE') {
          forbidden = true;
          caps.add(cap);
        }
      }
      if (forbidden) adding.push(name(c));
    }
    const details: string[] = [];
    if (missingDrop.length) details.push(`${containersPhrase(missingDrop)} must set securityContext.capabilities.drop=["ALL"]`);
    if (adding.length) details.push(`${containersPhrase(adding)} must not include ${joinQuote(sortedUnique(caps))} in securityContext.capabilities.add`);
    return details.length ? { allowed: false, reason: 'unrestricted capabilities', detail: details.join('; ') } : ALLOWED;
  };
}

const RESTRICTED_VOLUME_TYPES = [
  'hostPath',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'nfs',
  'iscsi',
  'glusterfs',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'fc',
  'azureFile',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'portworxVolume',
  'scaleIO',
  'storageos',
];
const ALLOWED_VOLUME_TYPES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];

function restrictedVolumes(_m: Obj, spec: Obj): CheckResult {
  const bad: string[] = [];
  const types = new Set<string>();
  volumes: for (const v of arr(spec.volumes)) {
    for (const k of ALLOWED_VOLUME_TYPES) if (isSet(v, k)) continue volumes;
    bad.push(String(v.name ?? ''));
    let type = 'unknown';
    for (const k of RESTRICTED_VOLUME_TYPES) {
      if (isSet(v, k)) {
        type = k;
        break;
      }
    }
    types.add(type);
  }
  if (!bad.length) return ALLOWED;
  const t = sortedUnique(types);
  return {
    allowed: false,
    reason: 'restricted volume types',
    detail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('restricted volume type', 'restricted volume types', t.length)} ${joinQuote(t)}`,
  };
}

function runAsNonRoot(_m: Obj, spec: Obj): CheckResult {
  const setters: string[] = [];
  let podNonRoot = false;
  const pod = obj(spec.securityContext).runAsNonRoot;
  if (typeof pod === 'boolean') {
    if (!pod) setters.push('pod');
    else podNonRoot = true;
  }
  const explicit: string[] = [];
  const implicit: string[] = [];
  for (const c of containers(spec)) {
    const v = sc(c).runAsNonRoot;
    if (typeof v === 'boolean') {
      if (!v) explicit.push(name(c));
    } else if (!podNonRoot) implicit.push(name(c));
  }
  if (explicit.length) setters.push(containersPhrase(explicit));
  if (setters.length) return { allowed: false, reason: 'runAsNonRoot != true', detail: `${setters.join(' and ')} must not set securityContext.runAsNonRoot=false` };
  if (implicit.length) return { allowed: false, reason: 'runAsNonRoot != true', detail: `pod or ${containersPhrase(implicit)} must set securityContext.runAsNonRoot=true` };
  return ALLOWED;
}

function runAsUser(_m: Obj, spec: Obj): CheckResult {
  const setters: string[] = [];
  if (obj(spec.securityContext).runAsUser === 0) setters.push('pod');
  const bad = namesWhere(spec, runsAsRoot);
  if (bad.length) setters.push(containersPhrase(bad));
  return setters.length ? { allowed: false, reason: 'runAsUser=0', detail: `${setters.join(' and ')} must not set runAsUser=0` } : ALLOWED;
}

const SECCOMP_RESTRICTED = seccomp(true);
const SELINUX_1_0 = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t']);
const SELINUX_1_31 = new Set([...SELINUX_1_0, 'container_engine_t']);

const CHECKS: Check[] = [
  { id: 'appArmorProfile', level: 'baseline', versions: [{ minimum: 0, check: appArmorProfile }] },
  { id: 'capabilities_baseline', level: 'baseline', versions: [{ minimum: 0, check: capabilitiesBaseline }] },
  { id: 'hostNamespaces', level: 'baseline', versions: [{ minimum: 0, check: hostNamespaces }] },
  { id: 'hostPathVolumes', level: 'baseline', versions: [{ minimum: 0, check: hostPathVolumes }] },
  { id: 'hostPorts', level: 'baseline', versions: [{ minimum: 0, check: hostPorts }] },
  { id: 'privileged', level: 'baseline', versions: [{ minimum: 0, check: privileged }] },
  { id: 'procMount', level: 'baseline', versions: [{ minimum: 0, check: procMount }] },
  {
    id: 'seLinuxOptions',
    level: 'baseline',
    versions: [
      { minimum: 0, check: seLinuxOptions(SELINUX_1_0) },
      { minimum: 31, check: seLinuxOptions(SELINUX_1_31) },
    ],
  },
  {
    id: 'seccompProfile_baseline',
    level: 'baseline',
    versions: [
      { minimum: 0, check: seccompBaseline10 },
      { minimum: 19, check: seccomp(false) },
    ],
  },
  {
    id: 'sysctls',
    level: 'baseline',
    versions: [
      { minimum: 0, check: sysctls(SYSCTLS_1_0) },
      { minimum: 27, check: sysctls(SYSCTLS_1_27) },
      { minimum: 29, check: sysctls(SYSCTLS_1_29) },
      { minimum: 32, check: sysctls(SYSCTLS_1_32) },
    ],
  },
  { id: 'windowsHostProcess', level: 'baseline', versions: [{ minimum: 0, check: windowsHostProcess }] },
  {
    id: 'allowPrivilegeEscalation',
    level: 'restricted',
    versions: [
      { minimum: 8, check: allowPrivilegeEscalation(false) },
      { minimum: 25, check: allowPrivilegeEscalation(true) },
    ],
  },
  {
    id: 'capabilities_restricted',
    level: 'restricted',
    versions: [
      { minimum: 22, check: capabilitiesRestricted(false), overrides: ['capabilities_baseline'] },
      { minimum: 25, check: capabilitiesRestricted(true), overrides: ['capabilities_baseline'] },
    ],
  },
  { id: 'restrictedVolumes', level: 'restricted', versions: [{ minimum: 0, check: restrictedVolumes, overrides: ['hostPathVolumes'] }] },
  { id: 'runAsNonRoot', level: 'restricted', versions: [{ minimum: 0, check: runAsNonRoot }] },
  { id: 'runAsUser', level: 'restricted', versions: [{ minimum: 23, check: runAsUser }] },
  {
    id: 'seccompProfile_restricted',
    level: 'restricted',
    versions: [
      { minimum: 19, check: seccomp(true), overrides: ['seccompProfile_baseline'] },
      { minimum: 25, check: (m, s) => (isWindows(s) ? ALLOWED : SECCOMP_RESTRICTED(m, s)), overrides: ['seccompProfile_baseline'] },
    ],
  },
];

/** The newest version any check names: later versions (and latest) evaluate as it does. */
const MAX_VERSION = Math.max(...CHECKS.flatMap((c) => c.versions.map((v) => v.minimum)));

function versionAt(c: Check, minor: number): VersionedCheck | undefined {
  let out: VersionedCheck | undefined;
  for (const v of c.versions) if (v.minimum <= minor) out = v;
  return out;
}

const checkLists = new Map<string, CheckFn[]>();

/** The check functions for a level and version: baseline ones first, then restricted, each by ID. */
function checksFor(lv: LevelVersion): CheckFn[] {
  if (lv.level === 'privileged') return [];
  const minor = Math.min(lv.version.minor, MAX_VERSION);
  const key = `${lv.level}:${minor}`;
  let fns = checkLists.get(key);
  if (!fns) checkLists.set(key, (fns = buildChecks(lv.level, minor)));
  return fns;
}

function buildChecks(level: Level, minor: number): CheckFn[] {
  const byId = (a: Check, b: Check) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const baseline = CHECKS.filter((c) => c.level === 'baseline').sort(byId);
  const restricted = level === 'restricted' ? CHECKS.filter((c) => c.level === 'restricted').sort(byId) : [];
  const overridden = new Set(restricted.flatMap((c) => versionAt(c, minor)?.overrides ?? []));
  const fns: CheckFn[] = [];
  for (const c of baseline) {
    const v = versionAt(c, minor);
    if (v && !overridden.has(c.id)) fns.push(v.check);
  }
  for (const c of restricted) {
    const v = versionAt(c, minor);
    if (v) fns.push(v.check);
  }
  return fns;
}

export interface Evaluation {
  allowed: boolean;
  reasons: string[];
  details: string[];
}

/** EvaluatePod + AggregateCheckResults. */
export function evaluatePod(lv: LevelVersion, podMeta: JsonValue, podSpec: JsonValue): Evaluation {
  const reasons: string[] = [];
  const details: string[] = [];
  const meta = obj(podMeta);
  const spec = obj(podSpec);
  for (const fn of checksFor(lv)) {
    const r = fn(meta, spec);
    if (r.allowed) continue;
    reasons.push(r.reason || 'unknown forbidden reason');
    details.push(r.detail ?? '');
  }
  visited.delete(spec);
  return { allowed: reasons.length === 0, reasons, details };
}

/** ForbiddenDetail: "privileged (container \"c\" must not ...), host namespaces (hostNetwork=true)". */
export function forbiddenDetail(e: Evaluation): string {
  return e.reasons.map((r, i) => (e.details[i] ? `${r} (${e.details[i]})` : r)).join(', ');
}

/** ForbiddenReason: the reasons alone (the namespace-wide warnings use it). */
export const forbiddenReason = (e: Evaluation): string => e.reasons.join(', ');
