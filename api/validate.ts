// Per-kind validation as upstream's pkg/apis/{core,apps,coordination,discovery}/validation,
// with the same field paths and message texts. Inputs are arbitrary JSON: nothing here throws.
import type { FieldError, KObject } from './registry.js';
import {
  duplicateField,
  forbiddenField,
  formatValue,
  invalidField,
  notSupportedField,
  OMIT,
  requiredField,
  tooLongField,
} from './field.js';
import {
  isConfigMapKey,
  isDNS1123Label,
  isDNS1123Subdomain,
  isEnvVarName,
  isIP,
  isQualifiedName,
  isValidPortNum,
  nameIsDNS1035Label,
  nameIsDNSLabel,
  nameIsDNSSubdomain,
  validateAnnotations,
  validateLabelKey,
  validateLabels,
  validateLabelValue,
  validateNonnegative,
  validateObjectMeta,
  validateObjectMetaUpdate,
  type NameValidator,
} from './validation.js';
import { parseQuantity, QUANTITY_FORMAT_ERROR, compareQuantity } from './quantity.js';
import { labelSelectorFromMap, labelSelectorFromSpec, matches, type MetaLabelSelector } from './selectors.js';
import { defaultPod } from './defaults.js';
import { setOwn, type JsonObject, type JsonValue } from './object.js';

type Obj = JsonObject;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): JsonValue[] => (Array.isArray(v) ? v : []);
const eq = (a: unknown, b: unknown): boolean => JSON.stringify(canon(a)) === JSON.stringify(canon(b));

function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  if (isObj(v)) {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) if (v[k] !== undefined) setOwn(out, k, canon(v[k]));
    return out;
  }
  return v;
}

/** ValidateImmutableField. */
export function immutable(newVal: unknown, oldVal: unknown, field: string, value: unknown = newVal): FieldError[] {
  return eq(newVal, oldVal) ? [] : [invalidField(field, value, 'field is immutable')];
}

function meta(o: KObject): Obj {
  return isObj(o.metadata) ? o.metadata : {};
}

function metaCreateOrUpdate(o: KObject, old: KObject | undefined, namespaced: boolean, nameFn: NameValidator): FieldError[] {
  if (old) return validateObjectMetaUpdate(meta(o), meta(old));
  return validateObjectMeta(meta(o), { namespaced, nameFn });
}

// ---------- LabelSelector rendering as the Go Stringer of metav1.LabelSelector ----------

export function labelSelectorString(sel: unknown): string {
  if (!isObj(sel)) return 'null';
  const ml = isObj(sel.matchLabels) ? sel.matchLabels : {};
  const labels = Object.keys(ml)
    .sort()
    .map((k) => `${k}: ${String(ml[k])},`)
    .join('');
  const exprs = list(sel.matchExpressions)
    .map((e: JsonValue) => `LabelSelectorRequirement{Key:${e?.key ?? ''},Operator:${e?.operator ?? ''},Values:[${list(e?.values).join(' ')}],},`)
    .join('');
  return `&LabelSelector{MatchLabels:map[string]string{${labels}},MatchExpressions:[]LabelSelectorRequirement{${exprs}},}`;
}

/** An Invalid error whose value upstream renders through a Stringer or %#v (printed as given, not quoted). */
function invalidRaw(field: string, raw: string, detail: string): FieldError {
  const e = invalidField(field, OMIT, detail);
  const prefix = field ? `${field}: ` : '';
  return { ...e, message: `${prefix}Invalid value: ${raw}${detail ? `: ${detail}` : ''}` };
}

function templateLabelsRepr(labels: unknown): string {
  if (!isObj(labels)) return 'map[string]string(nil)';
  return formatValue(labels);
}

// ---------- ObjectMeta-level checks for templates ----------

function validateTemplateMeta(m: unknown, path: string): FieldError[] {
  const mm = isObj(m) ? m : {};
  return [...validateLabels(mm.labels, `${path}.labels`), ...validateAnnotations(mm.annotations, `${path}.annotations`)];
}

// ---------- resources ----------

const STANDARD_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage', 'storage', 'pods']);

function validateResourceName(name: string, path: string): FieldError[] {
  if (STANDARD_RESOURCES.has(name) || name.startsWith('hugepages-')) return [];
  const errs = isQualifiedName(name).map((m) => invalidField(path, name, m));
  if (errs.length) return errs;
  if (!name.includes('/')) {
    return [invalidField(path, name, 'must be a standard resource type or fully qualified')];
  }
  return [];
}

function validateQuantityValue(v: unknown, path: string): { errs: FieldError[]; ok: boolean } {
  if (typeof v !== 'string' && typeof v !== 'number') return { errs: [invalidField(path, v, QUANTITY_FORMAT_ERROR)], ok: false };
  let n: number;
  try {
    n = parseQuantity(v);
  } catch {
    return { errs: [invalidField(path, String(v), QUANTITY_FORMAT_ERROR)], ok: false };
  }
  if (n < 0) return { errs: [invalidField(path, String(v), 'must be greater than or equal to 0')], ok: false };
  return { errs: [], ok: true };
}

function validateResources(r: unknown, path: string): FieldError[] {
  if (r === undefined || r === null) return [];
  if (!isObj(r)) return [invalidField(path, r, 'must be an object')];
  const errs: FieldError[] = [];
  const limits = isObj(r.limits) ? r.limits : {};
  const requests = isObj(r.requests) ? r.requests : {};
  const validLim = new Set<string>();
  for (const [k, v] of Object.entries(limits)) {
    const p = `${path}.limits[${k}]`;
    errs.push(...validateResourceName(k, p));
    const q = validateQuantityValue(v, p);
    errs.push(...q.errs);
    if (q.ok) validLim.add(k);
  }
  for (const [k, v] of Object.entries(requests)) {
    const p = `${path}.requests[${k}]`;
    errs.push(...validateResourceName(k, p));
    const q = validateQuantityValue(v, p);
    errs.push(...q.errs);
    if (q.ok && validLim.has(k) && compareQuantity(v as string, limits[k]) > 0) {
      errs.push(invalidField(p, String(v), `must be less than or equal to ${k} limit of ${String(limits[k])}`));
    }
  }
  return errs;
}

// ---------- containers ----------

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];

export function isValidPortName(p: string): string[] {
  const errs: string[] = [];
  if (p.length > 15) errs.push('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(p)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(p)) errs.push('must contain at least one letter (a-z)');
  if (p.includes('--')) errs.push('must not contain consecutive hyphens');
  if (p.length > 0 && (p.startsWith('-') || p.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}

function validatePortNumOrName(v: unknown, path: string): FieldError[] {
  if (typeof v === 'number') return isValidPortNum(v).map((m) => invalidField(path, v, m));
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return isValidPortNum(Number(v)).map((m) => invalidField(path, Number(v), m));
    return isValidPortName(v).map((m) => invalidField(path, v, m));
  }
  return [invalidField(path, v, 'must be an integer or a port name')];
}

function validateProbe(p: unknown, path: string): FieldError[] {
  if (p === undefined || p === null) return [];
  if (!isObj(p)) return [invalidField(path, p, 'must be an object')];
  const errs: FieldError[] = [];
  const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((h) => p[h] !== undefined && p[h] !== null);
  if (handlers.length === 0) errs.push(requiredField(path, 'must specify a handler type'));
  else if (handlers.length > 1) errs.push(forbiddenField(`${path}.${handlers[1]}`, 'may not specify more than 1 handler type'));
  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    errs.push(...validateNonnegative(p[f], `${path}.${f}`));
  }
  if (isObj(p.httpGet)) {
    errs.push(...validatePortNumOrName(p.httpGet.port, `${path}.httpGet.port`));
    if (p.httpGet.scheme !== undefined && !['HTTP', 'HTTPS'].includes(p.httpGet.scheme)) {
      errs.push(notSupportedField(`${path}.httpGet.scheme`, p.httpGet.scheme, ['HTTP', 'HTTPS']));
    }
  }
  if (isObj(p.tcpSocket)) errs.push(...validatePortNumOrName(p.tcpSocket.port, `${path}.tcpSocket.port`));
  if (isObj(p.exec) && (!Array.isArray(p.exec.command) || p.exec.command.length === 0)) errs.push(requiredField(`${path}.exec.command`));
  return errs;
}

function validateEnv(env: unknown, path: string): FieldError[] {
  if (env === undefined || env === null) return [];
  if (!Array.isArray(env)) return [invalidField(path, env, 'must be a list')];
  const errs: FieldError[] = [];
  env.forEach((e, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(e)) {
      errs.push(invalidField(p, e, 'must be an object'));
      return;
    }
    if (!e.name) errs.push(requiredField(`${p}.name`));
    else if (typeof e.name !== 'string') errs.push(invalidField(`${p}.name`, e.name, 'must be a string'));
    else for (const m of isEnvVarName(e.name)) errs.push(invalidField(`${p}.name`, e.name, m));
    if (e.value !== undefined && e.valueFrom !== undefined && e.value !== '') {
      errs.push(invalidField(`${p}.valueFrom`, '', "may not be specified when `value` is not empty"));
    }
  });
  return errs;
}

interface ContainerCtx {
  /** Declared volumes by name (a mount's source decides what it may use). */
  volumes: Map<string, Obj>;
  names: Set<string>;
}

function validateContainer(c: unknown, path: string, ctx: ContainerCtx, requireImage: boolean): FieldError[] {
  if (!isObj(c)) return [invalidField(path, c, 'must be an object')];
  const errs: FieldError[] = [];
  if (!c.name) errs.push(requiredField(`${path}.name`));
  else if (typeof c.name !== 'string') errs.push(invalidField(`${path}.name`, c.name, 'must be a string'));
  else {
    for (const m of isDNS1123Label(c.name)) errs.push(invalidField(`${path}.name`, c.name, m));
    if (ctx.names.has(c.name)) errs.push(duplicateField(`${path}.name`, c.name));
    ctx.names.add(c.name);
  }
  if (requireImage && (c.image === undefined || c.image === null || c.image === '')) errs.push(requiredField(`${path}.image`));
  else if (c.image !== undefined && typeof c.image !== 'string') errs.push(invalidField(`${path}.image`, c.image, 'must be a string'));
  else if (typeof c.image === 'string' && c.image.trim() !== c.image)
    errs.push(invalidField(`${path}.image`, c.image, 'must not have leading or trailing whitespace'));
  if (!c.imagePullPolicy) errs.push(requiredField(`${path}.imagePullPolicy`));
  else if (!PULL_POLICIES.includes(c.imagePullPolicy)) errs.push(notSupportedField(`${path}.imagePullPolicy`, c.imagePullPolicy, PULL_POLICIES));
  if (c.terminationMessagePolicy === undefined || c.terminationMessagePolicy === '')
    errs.push(requiredField(`${path}.terminationMessagePolicy`, "must be 'File' or 'FallbackToLogsOnError'"));
  else if (!['File', 'FallbackToLogsOnError'].includes(c.terminationMessagePolicy))
    errs.push(invalidField(`${path}.terminationMessagePolicy`, c.terminationMessagePolicy, "must be 'File' or 'FallbackToLogsOnError'"));
  if (c.command !== undefined && c.command !== null && !Array.isArray(c.command)) errs.push(invalidField(`${path}.command`, c.command, 'must be a list of strings'));
  if (c.args !== undefined && c.args !== null && !Array.isArray(c.args)) errs.push(invalidField(`${path}.args`, c.args, 'must be a list of strings'));
  // Ports.
  const portNames = new Set<string>();
  if (c.ports !== undefined && c.ports !== null) {
    if (!Array.isArray(c.ports)) errs.push(invalidField(`${path}.ports`, c.ports, 'must be a list'));
    else
      c.ports.forEach((port: unknown, i: number) => {
        const p = `${path}.ports[${i}]`;
        if (!isObj(port)) {
          errs.push(invalidField(p, port, 'must be an object'));
          return;
        }
        if (port.name !== undefined && port.name !== '') {
          if (typeof port.name !== 'string') errs.push(invalidField(`${p}.name`, port.name, 'must be a string'));
          else {
            // Port names are unique within one container (not across the pod), as upstream.
            const msgs = isValidPortName(port.name);
            for (const m of msgs) errs.push(invalidField(`${p}.name`, port.name, m));
            if (msgs.length === 0) {
              if (portNames.has(port.name)) errs.push(duplicateField(`${p}.name`, port.name));
              portNames.add(port.name);
            }
          }
        }
        if (port.containerPort === undefined || port.containerPort === 0) errs.push(requiredField(`${p}.containerPort`));
        else if (typeof port.containerPort !== 'number') errs.push(invalidField(`${p}.containerPort`, port.containerPort, 'must be an integer'));
        else for (const m of isValidPortNum(port.containerPort)) errs.push(invalidField(`${p}.containerPort`, port.containerPort, m));
        if (port.hostPort !== undefined && port.hostPort !== 0) {
          if (typeof port.hostPort !== 'number') errs.push(invalidField(`${p}.hostPort`, port.hostPort, 'must be an integer'));
          else for (const m of isValidPortNum(port.hostPort)) errs.push(invalidField(`${p}.hostPort`, port.hostPort, m));
        }
        if (!port.protocol) errs.push(requiredField(`${p}.protocol`));
        else if (!PROTOCOLS.includes(port.protocol)) errs.push(notSupportedField(`${p}.protocol`, port.protocol, PROTOCOLS));
      });
  }
  errs.push(...validateEnv(c.env, `${path}.env`));
  errs.push(...validateVolumeMounts(c.volumeMounts, `${path}.volumeMounts`, ctx, c));
  errs.push(...validateProbe(c.livenessProbe, `${path}.livenessProbe`));
  errs.push(...validateProbe(c.readinessProbe, `${path}.readinessProbe`));
  errs.push(...validateProbe(c.startupProbe, `${path}.startupProbe`));
  if (isObj(c.readinessProbe) && c.readinessProbe.successThreshold !== undefined && c.readinessProbe.successThreshold < 1) {
    errs.push(invalidField(`${path}.readinessProbe.successThreshold`, c.readinessProbe.successThreshold, 'must be greater than or equal to 1'));
  }
  if (isObj(c.livenessProbe) && typeof c.livenessProbe.successThreshold === 'number' && c.livenessProbe.successThreshold !== 1) {
    errs.push(invalidField(`${path}.livenessProbe.successThreshold`, c.livenessProbe.successThreshold, 'must be 1'));
  }
  errs.push(...validateResources(c.resources, `${path}.resources`));
  return errs;
}

// ---------- volumes ----------

const VOLUME_SOURCES = [
  'hostPath', 'emptyDir', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'secret', 'nfs', 'iscsi', 'glusterfs',
  'persistentVolumeClaim', 'rbd', 'flexVolume', 'cinder', 'cephfs', 'flocker', 'downwardAPI', 'fc', 'azureFile',
  'configMap', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'projected', 'portworxVolume',
  'scaleIO', 'storageos', 'csi', 'ephemeral', 'image',
];

const FILE_MODE_MSG = 'must be a number between 0 and 0777 (octal), both inclusive';
const HOST_PATH_TYPES = ['', 'BlockDevice', 'CharDevice', 'Directory', 'DirectoryOrCreate', 'File', 'FileOrCreate', 'Socket'];
const MOUNT_PROPAGATIONS = ['Bidirectional', 'HostToContainer', 'None'];
const RECURSIVE_READ_ONLY = ['Disabled', 'Enabled', 'IfPossible'];

/** validatePathNoBacksteps: no `..` element (one error however many there are). */
function validatePathNoBacksteps(p: string, field: string): FieldError[] {
  return p.split('/').includes('..') ? [invalidField(field, p, "must not contain '..'")] : [];
}

/** validateLocalDescendingPath: relative, no `..` element. */
function validateLocalDescendingPath(p: string, field: string): FieldError[] {
  const errs: FieldError[] = [];
  if (p.startsWith('/')) errs.push(invalidField(field, p, 'must be a relative path'));
  errs.push(...validatePathNoBacksteps(p, field));
  return errs;
}

/** ValidateLocalNonReservedPath: a local descending path that does not start with `..` either. */
function validateLocalNonReservedPath(p: string, field: string): FieldError[] {
  const errs = validateLocalDescendingPath(p, field);
  // `../x` is already reported as a backstep.
  if (p.startsWith('..') && !p.startsWith('../')) errs.push(invalidField(field, p, "must not start with '..'"));
  return errs;
}

function validateFileMode(mode: unknown, field: string): FieldError[] {
  if (mode === undefined || mode === null) return [];
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777) return [invalidField(field, mode, FILE_MODE_MSG)];
  return [];
}

/** A path given as something other than a string is reported as such, never coerced. */
function pathString(v: unknown, field: string, errs: FieldError[]): string | undefined {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v !== 'string') {
    errs.push(invalidField(field, v, 'must be a string'));
    return undefined;
  }
  return v;
}

function validateKeyToPath(kp: unknown, path: string): FieldError[] {
  if (!isObj(kp)) return [invalidField(path, kp, 'must be an object')];
  const errs: FieldError[] = [];
  if (!kp.key) errs.push(requiredField(`${path}.key`));
  const p = pathString(kp.path, `${path}.path`, errs);
  if (p === '') errs.push(requiredField(`${path}.path`));
  else if (p !== undefined) errs.push(...validateLocalNonReservedPath(p, `${path}.path`));
  errs.push(...validateFileMode(kp.mode, `${path}.mode`));
  return errs;
}

/**
 * validateDownwardAPIVolumeFile. Upstream reports its items under the volume source's path
 * without the item index (`spec.volumes[0].downwardAPI.path`); so do we, for the same text.
 */
function validateDownwardAPIFile(f: unknown, path: string): FieldError[] {
  if (!isObj(f)) return [invalidField(path, f, 'must be an object')];
  const errs: FieldError[] = [];
  const p = pathString(f.path, `${path}.path`, errs);
  if (p === '') errs.push(requiredField(`${path}.path`));
  else if (p !== undefined) errs.push(...validateLocalNonReservedPath(p, `${path}.path`));
  if (f.fieldRef) {
    if (f.resourceFieldRef) errs.push(invalidField(path, 'resource', 'fieldRef and resourceFieldRef can not be specified simultaneously'));
  } else if (!f.resourceFieldRef) errs.push(requiredField(path, 'one of fieldRef and resourceFieldRef is required'));
  errs.push(...validateFileMode(f.mode, `${path}.mode`));
  return errs;
}

function validateProjected(pr: Obj, path: string): FieldError[] {
  const errs = validateFileMode(pr.defaultMode, `${path}.defaultMode`);
  const seen = new Set<string>();
  const claim = (p: unknown, value: unknown) => {
    if (typeof p !== 'string' || p === '') return;
    if (seen.has(p)) errs.push(invalidField(path, value, 'conflicting duplicate paths'));
    seen.add(p);
  };
  list(pr.sources).forEach((src: unknown, i: number) => {
    const sp = `${path}.sources[${i}]`;
    if (!isObj(src)) {
      errs.push(invalidField(sp, src, 'must be an object'));
      return;
    }
    let n = 0;
    for (const kind of ['secret', 'configMap'] as const) {
      const s = src[kind];
      if (!isObj(s)) continue;
      n++;
      if (!s.name) errs.push(requiredField(`${sp}.${kind}.name`));
      list(s.items).forEach((kp: unknown, j: number) => {
        errs.push(...validateKeyToPath(kp, `${sp}.${kind}.items[${j}]`));
        if (isObj(kp)) claim(kp.path, s.name ?? '');
      });
    }
    if (isObj(src.downwardAPI)) {
      n++;
      for (const f of list(src.downwardAPI.items)) {
        errs.push(...validateDownwardAPIFile(f, `${sp}.downwardAPI`));
        if (isObj(f)) claim(f.path, f.path);
      }
    }
    if (isObj(src.serviceAccountToken)) {
      n++;
      const t = src.serviceAccountToken;
      // Unset means upstream's default of one hour.
      const exp = t.expirationSeconds ?? 3600;
      const ep = `${sp}.serviceAccountToken.expirationSeconds`;
      if (typeof exp !== 'number') errs.push(invalidField(ep, exp, 'must be an integer'));
      else if (exp < 600) errs.push(invalidField(ep, exp, 'may not specify a duration less than 10 minutes'));
      else if (exp > 2 ** 32) errs.push(invalidField(ep, exp, 'may not specify a duration larger than 2^32 seconds'));
      const p = pathString(t.path, `${path}.path`, errs);
      if (p === '') errs.push(requiredField(`${path}.path`));
      else if (p !== undefined) errs.push(...validateLocalNonReservedPath(p, `${path}.path`));
    }
    if (n > 1) errs.push(forbiddenField(sp, 'may not specify more than 1 volume type per source'));
  });
  return errs;
}

function validateVolumeSource(v: Obj, p: string): FieldError[] {
  const errs: FieldError[] = [];
  if (isObj(v.hostPath)) {
    const hp = pathString(v.hostPath.path, `${p}.hostPath.path`, errs);
    if (hp === '') errs.push(requiredField(`${p}.hostPath.path`));
    else if (hp !== undefined) {
      errs.push(...validatePathNoBacksteps(hp, `${p}.hostPath.path`));
      const t = v.hostPath.type;
      if (t !== undefined && t !== null && !HOST_PATH_TYPES.includes(t)) errs.push(notSupportedField(`${p}.hostPath.type`, t, HOST_PATH_TYPES));
    }
  }
  if (isObj(v.configMap)) {
    if (!v.configMap.name) errs.push(requiredField(`${p}.configMap.name`));
    errs.push(...validateFileMode(v.configMap.defaultMode, `${p}.configMap.defaultMode`));
    list(v.configMap.items).forEach((kp: unknown, j: number) => errs.push(...validateKeyToPath(kp, `${p}.configMap.items[${j}]`)));
  }
  if (isObj(v.secret)) {
    if (!v.secret.secretName) errs.push(requiredField(`${p}.secret.secretName`));
    errs.push(...validateFileMode(v.secret.defaultMode, `${p}.secret.defaultMode`));
    list(v.secret.items).forEach((kp: unknown, j: number) => errs.push(...validateKeyToPath(kp, `${p}.secret.items[${j}]`)));
  }
  if (isObj(v.downwardAPI)) {
    errs.push(...validateFileMode(v.downwardAPI.defaultMode, `${p}.downwardAPI.defaultMode`));
    for (const f of list(v.downwardAPI.items)) errs.push(...validateDownwardAPIFile(f, `${p}.downwardAPI`));
  }
  if (isObj(v.projected)) errs.push(...validateProjected(v.projected, `${p}.projected`));
  if (isObj(v.gitRepo)) {
    if (!v.gitRepo.repository) errs.push(requiredField(`${p}.gitRepo.repository`));
    const d = pathString(v.gitRepo.directory, `${p}.gitRepo.directory`, errs);
    if (d) errs.push(...validateLocalDescendingPath(d, `${p}.gitRepo.directory`));
  }
  if (isObj(v.persistentVolumeClaim) && !v.persistentVolumeClaim.claimName) errs.push(requiredField(`${p}.persistentVolumeClaim.claimName`));
  if (isObj(v.emptyDir) && v.emptyDir.medium !== undefined && !['', 'Memory', 'HugePages'].includes(v.emptyDir.medium) && !String(v.emptyDir.medium).startsWith('HugePages-')) {
    errs.push(notSupportedField(`${p}.emptyDir.medium`, v.emptyDir.medium, ['', 'Memory', 'HugePages']));
  }
  return errs;
}

function validateVolumes(vols: unknown, path: string): { errs: FieldError[]; byName: Map<string, Obj> } {
  const byName = new Map<string, Obj>();
  const errs: FieldError[] = [];
  if (vols === undefined || vols === null) return { errs, byName };
  if (!Array.isArray(vols)) return { errs: [invalidField(path, vols, 'must be a list')], byName };
  vols.forEach((v, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(v)) {
      errs.push(invalidField(p, v, 'must be an object'));
      return;
    }
    if (!v.name) errs.push(requiredField(`${p}.name`));
    else if (typeof v.name === 'string') {
      for (const m of isDNS1123Label(v.name)) errs.push(invalidField(`${p}.name`, v.name, m));
      if (byName.has(v.name)) errs.push(duplicateField(`${p}.name`, v.name));
      byName.set(v.name, v);
    }
    const sources = VOLUME_SOURCES.filter((s) => v[s] !== undefined && v[s] !== null);
    if (sources.length === 0) errs.push(requiredField(p, 'must specify a volume type'));
    else if (sources.length > 1) errs.push(forbiddenField(`${p}.${sources[1]}`, 'may not specify more than 1 volume type'));
    errs.push(...validateVolumeSource(v, p));
  });
  return { errs, byName };
}

/**
 * ValidateVolumeMounts. Upstream reports subPath and subPathExpr path errors under
 * `volumeMounts.subPath` (no index) and the mutual exclusion under `volumeMounts[i]`;
 * the texts here are the same.
 */
function validateVolumeMounts(mounts: unknown, path: string, ctx: ContainerCtx, c: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const mountPaths = new Set<string>();
  const privileged = isObj(c.securityContext) && c.securityContext.privileged === true;
  list(mounts).forEach((vm: unknown, i: number) => {
    const p = `${path}[${i}]`;
    if (!isObj(vm)) {
      errs.push(invalidField(p, vm, 'must be an object'));
      return;
    }
    if (!vm.name) errs.push(requiredField(`${p}.name`));
    else if (!ctx.volumes.has(vm.name)) errs.push({ type: 'FieldValueInvalid', field: `${p}.name`, message: `${p}.name: Not found: ${formatValue(vm.name)}` });
    if (!vm.mountPath) errs.push(requiredField(`${p}.mountPath`));
    else if (typeof vm.mountPath !== 'string') errs.push(invalidField(`${p}.mountPath`, vm.mountPath, 'must be a string'));
    else if (mountPaths.has(vm.mountPath)) errs.push(invalidField(`${p}.mountPath`, vm.mountPath, 'must be unique'));
    else mountPaths.add(vm.mountPath);
    const sub = pathString(vm.subPath, `${p}.subPath`, errs);
    const expr = pathString(vm.subPathExpr, `${p}.subPathExpr`, errs);
    const src = typeof vm.name === 'string' ? ctx.volumes.get(vm.name) : undefined;
    if (src && isObj(src.image)) {
      if (sub) errs.push(invalidField(`${p}.subPath`, sub, 'not allowed in image volume sources'));
      if (expr) errs.push(invalidField(`${p}.subPathExpr`, expr, 'not allowed in image volume sources'));
    }
    if (sub) errs.push(...validateLocalDescendingPath(sub, `${path}.subPath`));
    if (expr) {
      if (sub) errs.push(invalidField(`${p}.subPathExpr`, expr, 'subPathExpr and subPath are mutually exclusive'));
      errs.push(...validateLocalDescendingPath(expr, `${path}.subPathExpr`));
    }
    const prop = vm.mountPropagation;
    if (prop !== undefined && prop !== null) {
      if (!MOUNT_PROPAGATIONS.includes(prop)) errs.push(notSupportedField(`${path}.mountPropagation`, prop, MOUNT_PROPAGATIONS));
      else if (prop === 'Bidirectional' && !privileged) errs.push(forbiddenField(`${path}.mountPropagation`, 'Bidirectional mount propagation is available only to privileged containers'));
    }
    const rro = vm.recursiveReadOnly;
    if (rro !== undefined && rro !== null) {
      if (!RECURSIVE_READ_ONLY.includes(rro)) errs.push(notSupportedField(`${path}.recursiveReadOnly`, rro, RECURSIVE_READ_ONLY));
      else if (rro !== 'Disabled') {
        if (vm.readOnly !== true) errs.push(forbiddenField(`${path}.recursiveReadOnly`, 'may only be specified when readOnly is true'));
        if (prop !== undefined && prop !== null && prop !== 'None') errs.push(forbiddenField(`${path}.recursiveReadOnly`, 'may only be specified when mountPropagation is None or not specified'));
      }
    }
  });
  return errs;
}

// ---------- tolerations ----------

const TAINT_EFFECTS = ['NoExecute', 'NoSchedule', 'PreferNoSchedule'];

function validateTolerations(tols: unknown, path: string): FieldError[] {
  if (tols === undefined || tols === null) return [];
  if (!Array.isArray(tols)) return [invalidField(path, tols, 'must be a list')];
  const errs: FieldError[] = [];
  tols.forEach((t, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(t)) {
      errs.push(invalidField(p, t, 'must be an object'));
      return;
    }
    if (t.key) errs.push(...validateLabelKey(t.key, `${p}.key`));
    if (!t.key && t.operator !== 'Exists') errs.push(invalidField(`${p}.operator`, t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    if (t.tolerationSeconds !== undefined && t.tolerationSeconds !== null && t.effect !== 'NoExecute')
      errs.push(invalidField(`${p}.effect`, t.effect ?? '', 'effect must be \'NoExecute\' when `tolerationSeconds` is set'));
    if (t.operator !== undefined && t.operator !== '' && t.operator !== 'Equal' && t.operator !== 'Exists')
      errs.push(notSupportedField(`${p}.operator`, t.operator, ['Equal', 'Exists']));
    if (t.operator === 'Exists' && t.value) errs.push(invalidField(`${p}.operator`, t.value, 'value must be empty when `operator` is \'Exists\''));
    if ((t.operator === undefined || t.operator === '' || t.operator === 'Equal') && typeof t.value === 'string' && t.value !== '')
      errs.push(...validateLabelValue(t.value, `${p}.value`));
    if (t.effect !== undefined && t.effect !== '' && !TAINT_EFFECTS.includes(t.effect)) errs.push(notSupportedField(`${p}.effect`, t.effect, TAINT_EFFECTS));
  });
  return errs;
}

// ---------- pod spec ----------

export interface PodSpecOptions {
  /** Pod templates may not carry ephemeral containers. */
  template?: boolean;
}

export function validatePodSpec(spec: unknown, path: string, opts: PodSpecOptions = {}): FieldError[] {
  if (!isObj(spec)) return [requiredField(path)];
  const errs: FieldError[] = [];
  const vol = validateVolumes(spec.volumes, `${path}.volumes`);
  errs.push(...vol.errs);
  const ctx: ContainerCtx = { volumes: vol.byName, names: new Set() };
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) {
    if (spec.containers !== undefined && spec.containers !== null && !Array.isArray(spec.containers))
      errs.push(invalidField(`${path}.containers`, spec.containers, 'must be a list'));
    else errs.push(requiredField(`${path}.containers`));
  } else {
    spec.containers.forEach((c: unknown, i: number) => errs.push(...validateContainer(c, `${path}.containers[${i}]`, ctx, true)));
  }
  if (spec.initContainers !== undefined && spec.initContainers !== null) {
    if (!Array.isArray(spec.initContainers)) errs.push(invalidField(`${path}.initContainers`, spec.initContainers, 'must be a list'));
    else
      spec.initContainers.forEach((c: unknown, i: number) => {
        const p = `${path}.initContainers[${i}]`;
        errs.push(...validateContainer(c, p, ctx, true));
        if (isObj(c) && c.restartPolicy !== 'Always') {
          for (const f of ['livenessProbe', 'readinessProbe', 'startupProbe'])
            if (c[f] !== undefined && c[f] !== null) errs.push(forbiddenField(`${p}.${f}`, 'may not be set for init containers without restartPolicy=Always'));
        }
      });
  }
  if (opts.template && list(spec.ephemeralContainers).length) errs.push(forbiddenField(`${path}.ephemeralContainers`, 'ephemeral containers not allowed in pod template'));
  if (spec.restartPolicy === undefined || spec.restartPolicy === '') errs.push(requiredField(`${path}.restartPolicy`));
  else if (!RESTART_POLICIES.includes(spec.restartPolicy)) errs.push(notSupportedField(`${path}.restartPolicy`, spec.restartPolicy, RESTART_POLICIES));
  if (spec.dnsPolicy === undefined || spec.dnsPolicy === '') errs.push(requiredField(`${path}.dnsPolicy`));
  else if (!DNS_POLICIES.includes(spec.dnsPolicy)) errs.push(notSupportedField(`${path}.dnsPolicy`, spec.dnsPolicy, DNS_POLICIES));
  if (spec.nodeSelector !== undefined && spec.nodeSelector !== null) errs.push(...validateLabels(spec.nodeSelector, `${path}.nodeSelector`));
  if (spec.serviceAccountName) for (const m of isDNS1123Subdomain(String(spec.serviceAccountName))) errs.push(invalidField(`${path}.serviceAccountName`, spec.serviceAccountName, m));
  if (spec.nodeName) for (const m of isDNS1123Subdomain(String(spec.nodeName))) errs.push(invalidField(`${path}.nodeName`, spec.nodeName, m));
  if (spec.hostname) for (const m of isDNS1123Label(String(spec.hostname))) errs.push(invalidField(`${path}.hostname`, spec.hostname, m));
  if (spec.subdomain) for (const m of isDNS1123Label(String(spec.subdomain))) errs.push(invalidField(`${path}.subdomain`, spec.subdomain, m));
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds !== null) {
    const v = spec.activeDeadlineSeconds;
    if (typeof v !== 'number' || v < 1 || v > 2147483647) errs.push(invalidField(`${path}.activeDeadlineSeconds`, v, 'must be between 1 and 2147483647, inclusive'));
  }
  if (spec.terminationGracePeriodSeconds !== undefined && spec.terminationGracePeriodSeconds !== null && typeof spec.terminationGracePeriodSeconds !== 'number') {
    errs.push(invalidField(`${path}.terminationGracePeriodSeconds`, spec.terminationGracePeriodSeconds, 'must be an integer'));
  }
  errs.push(...validateTolerations(spec.tolerations, `${path}.tolerations`));
  if (spec.hostNetwork === true) {
    list(spec.containers).forEach((c: JsonValue, i: number) =>
      list(c?.ports).forEach((p: JsonValue, j: number) => {
        if (isObj(p) && p.hostPort !== undefined && p.hostPort !== p.containerPort)
          errs.push(invalidField(`${path}.containers[${i}].ports[${j}].containerPort`, p.containerPort, 'must match `hostPort` when `hostNetwork` is true'));
      }),
    );
  }
  return errs;
}

// ---------- Pod ----------

function validatePodCreate(pod: KObject): FieldError[] {
  return [...validateObjectMeta(meta(pod), { namespaced: true, nameFn: nameIsDNSSubdomain }), ...validatePodSpec(pod.spec, 'spec')];
}

const POD_UPDATE_FORBIDDEN =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

/** A compact cmp.Diff-like rendering of the top-level fields that differ. */
function specDiff(oldSpec: Obj, newSpec: Obj): string {
  const keys = [...new Set([...Object.keys(oldSpec), ...Object.keys(newSpec)])].sort();
  const lines = ['  core.PodSpec{'];
  for (const k of keys) {
    if (eq(oldSpec[k], newSpec[k])) continue;
    if (oldSpec[k] !== undefined) lines.push(`- \t${k}: ${JSON.stringify(oldSpec[k])},`);
    if (newSpec[k] !== undefined) lines.push(`+ \t${k}: ${JSON.stringify(newSpec[k])},`);
  }
  lines.push('  }');
  return lines.join('\n');
}

function validatePodUpdate(pod: KObject, old: KObject): FieldError[] {
  const errs = validateObjectMetaUpdate(meta(pod), meta(old));
  errs.push(...validatePodSpec(pod.spec, 'spec'));
  const newSpec: Obj = isObj(pod.spec) ? JSON.parse(JSON.stringify(pod.spec)) : {};
  // Compare against the stored pod as today's defaults would read it, so a pod stored before a
  // default was added is not "changed" by every later update (upstream defaults on decode).
  // The metadata goes along: mirror pods are defaulted differently (no service account).
  const oldDefaulted: KObject = JSON.parse(JSON.stringify({ metadata: isObj(old.metadata) ? old.metadata : {}, spec: isObj(old.spec) ? old.spec : {} }));
  defaultPod(oldDefaulted);
  const oldSpec: Obj = oldDefaulted.spec;
  // Munge the allowed changes back to the old values, then anything left is forbidden.
  for (const f of ['containers', 'initContainers'] as const) {
    const nc = list(newSpec[f]);
    const oc = list(oldSpec[f]);
    if (nc.length === oc.length) nc.forEach((c, i) => isObj(c) && isObj(oc[i]) && (c.image = oc[i].image));
  }
  const nAds = newSpec.activeDeadlineSeconds;
  const oAds = oldSpec.activeDeadlineSeconds;
  if (nAds !== undefined && nAds !== null && (oAds === undefined || oAds === null || (typeof nAds === 'number' && nAds <= oAds))) {
    newSpec.activeDeadlineSeconds = oAds;
    if (oAds === undefined) delete newSpec.activeDeadlineSeconds;
  }
  const nt = list(newSpec.tolerations);
  const ot = list(oldSpec.tolerations);
  if (ot.every((t) => nt.some((u) => eq(t, u)))) {
    if (ot.length) newSpec.tolerations = ot;
    else delete newSpec.tolerations;
  }
  if (typeof oldSpec.terminationGracePeriodSeconds === 'number' && oldSpec.terminationGracePeriodSeconds < 0 && newSpec.terminationGracePeriodSeconds === 1) {
    newSpec.terminationGracePeriodSeconds = oldSpec.terminationGracePeriodSeconds;
  }
  // Removing scheduling gates is allowed.
  if (list(oldSpec.schedulingGates).length && list(newSpec.schedulingGates).length <= list(oldSpec.schedulingGates).length) {
    newSpec.schedulingGates = oldSpec.schedulingGates;
  }
  if (!eq(newSpec, oldSpec)) {
    errs.push(forbiddenField('spec', `${POD_UPDATE_FORBIDDEN}\n${specDiff(oldSpec, newSpec)}`));
  }
  return errs;
}

export function validatePod(pod: KObject, old?: KObject): FieldError[] {
  return old ? validatePodUpdate(pod, old) : validatePodCreate(pod);
}

// ---------- ReplicationController ----------

function validatePodTemplateSpec(tmpl: unknown, path: string): FieldError[] {
  if (!isObj(tmpl)) return [requiredField(path)];
  return [...validateTemplateMeta(tmpl.metadata, `${path}.metadata`), ...validatePodSpec(tmpl.spec, `${path}.spec`, { template: true })];
}

function workloadTemplateChecks(tmpl: Obj, path: string, kindWord: string): FieldError[] {
  const errs: FieldError[] = [];
  const rp = isObj(tmpl.spec) ? tmpl.spec.restartPolicy : undefined;
  if (rp !== undefined && rp !== 'Always' && RESTART_POLICIES.includes(rp)) errs.push(notSupportedField(`${path}.spec.restartPolicy`, rp, ['Always']));
  if (isObj(tmpl.spec) && tmpl.spec.activeDeadlineSeconds !== undefined && tmpl.spec.activeDeadlineSeconds !== null)
    errs.push(forbiddenField(`${path}.spec.activeDeadlineSeconds`, `activeDeadlineSeconds in ${kindWord} is not Supported`));
  return errs;
}

function checkInt(v: unknown, path: string): FieldError[] {
  if (v === undefined || v === null) return [];
  if (typeof v !== 'number' || !Number.isInteger(v)) return [invalidField(path, v, 'must be an integer')];
  return [];
}

export function validateReplicationController(rc: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(rc, old, true, nameIsDNSSubdomain);
  const spec: Obj = isObj(rc.spec) ? rc.spec : {};
  errs.push(...checkInt(spec.minReadySeconds, 'spec.minReadySeconds'), ...validateNonnegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  const selector = isObj(spec.selector) ? spec.selector : {};
  if (Object.keys(selector).length === 0) errs.push(requiredField('spec.selector'));
  else errs.push(...validateLabels(selector, 'spec.selector'));
  errs.push(...checkInt(spec.replicas, 'spec.replicas'), ...validateNonnegative(spec.replicas, 'spec.replicas'));
  const tmpl = spec.template;
  if (!isObj(tmpl)) errs.push(requiredField('spec.template'));
  else {
    if (Object.keys(selector).length > 0) {
      const labels = isObj(tmpl.metadata) && isObj(tmpl.metadata.labels) ? tmpl.metadata.labels : {};
      if (!matches(labelSelectorFromMap(selector), labels)) {
        errs.push(invalidRaw('spec.template.metadata.labels', templateLabelsRepr(tmpl.metadata?.labels), '`selector` does not match template `labels`'));
      }
    }
    errs.push(...validatePodTemplateSpec(tmpl, 'spec.template'));
    errs.push(...workloadTemplateChecks(tmpl, 'spec.template', 'ReplicationController'));
  }
  return errs;
}

// ---------- apps: ReplicaSet, Deployment, DaemonSet ----------

export function validateMetaLabelSelector(sel: Obj, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (sel.matchLabels !== undefined && sel.matchLabels !== null) errs.push(...validateLabels(sel.matchLabels, `${path}.matchLabels`));
  list(sel.matchExpressions).forEach((e: JsonValue, i: number) => {
    const p = `${path}.matchExpressions[${i}]`;
    if (!isObj(e)) {
      errs.push(invalidField(p, e, 'must be an object'));
      return;
    }
    const op = e.operator;
    const vals = list(e.values);
    if (op === 'In' || op === 'NotIn') {
      if (vals.length === 0) errs.push(requiredField(`${p}.values`, 'must be specified when `operator` is \'In\' or \'NotIn\''));
    } else if (op === 'Exists' || op === 'DoesNotExist') {
      if (vals.length > 0) errs.push(forbiddenField(`${p}.values`, 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\''));
    } else errs.push(invalidField(`${p}.operator`, op ?? '', 'not a valid selector operator'));
    errs.push(...validateLabelKey(String(e.key ?? ''), `${p}.key`));
    vals.forEach((v: unknown, j: number) => errs.push(...validateLabelValue(String(v), `${p}.values[${j}]`)));
  });
  return errs;
}

function validateAppsSelectorAndTemplate(spec: Obj, kindWord: string, emptyWord: string): FieldError[] {
  const errs: FieldError[] = [];
  const sel = spec.selector;
  if (sel === undefined || sel === null) errs.push(requiredField('spec.selector'));
  else if (!isObj(sel)) errs.push(invalidField('spec.selector', sel, 'must be an object'));
  else {
    errs.push(...validateMetaLabelSelector(sel, 'spec.selector'));
    const n = (isObj(sel.matchLabels) ? Object.keys(sel.matchLabels).length : 0) + list(sel.matchExpressions).length;
    if (n === 0) errs.push(invalidRaw('spec.selector', labelSelectorString(sel), `empty selector is invalid for ${emptyWord}`));
  }
  let parsed;
  try {
    parsed = labelSelectorFromSpec(isObj(sel) ? (sel as MetaLabelSelector) : null);
  } catch {
    if (isObj(sel)) errs.push(invalidRaw('spec.selector', labelSelectorString(sel), 'invalid label selector'));
  }
  const tmpl = spec.template;
  if (!isObj(tmpl)) errs.push(requiredField('spec.template'));
  else {
    if (parsed && !parsed.nothing && parsed.requirements.length > 0) {
      const labels = isObj(tmpl.metadata) && isObj(tmpl.metadata.labels) ? tmpl.metadata.labels : {};
      if (!matches(parsed, labels)) {
        errs.push(invalidRaw('spec.template.metadata.labels', templateLabelsRepr(tmpl.metadata?.labels), '`selector` does not match template `labels`'));
      }
    }
    errs.push(...validatePodTemplateSpec(tmpl, 'spec.template'));
    errs.push(...workloadTemplateChecks(tmpl, 'spec.template', kindWord));
  }
  return errs;
}

function appsSelectorImmutable(o: KObject, old: KObject | undefined): FieldError[] {
  if (!old) return [];
  const n = o.spec?.selector;
  const p = old.spec?.selector;
  if (eq(n ?? null, p ?? null)) return [];
  return [invalidRaw('spec.selector', labelSelectorString(n), 'field is immutable')];
}

export function validateReplicaSet(rs: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(rs, old, true, nameIsDNSSubdomain);
  const spec: Obj = isObj(rs.spec) ? rs.spec : {};
  errs.push(...checkInt(spec.replicas, 'spec.replicas'), ...validateNonnegative(spec.replicas, 'spec.replicas'));
  errs.push(...validateNonnegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  // Upstream's ReplicaSet message really says "for deployment".
  errs.push(...validateAppsSelectorAndTemplate(spec, 'ReplicaSet', 'deployment'));
  // Upstream's strategy appends the selector immutability check after the spec checks.
  errs.push(...appsSelectorImmutable(rs, old));
  return errs;
}

const PERCENT_RE = /^[0-9]+%$/;

function validateIntOrPercent(v: unknown, path: string): FieldError[] {
  if (typeof v === 'number') return validateNonnegative(v, path);
  if (typeof v === 'string') {
    if (!PERCENT_RE.test(v))
      return [
        invalidField(
          path,
          v,
          "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        ),
      ];
    return [];
  }
  return v === undefined || v === null ? [] : [invalidField(path, v, 'must be an integer or percentage (e.g \'5%\')')];
}

function intOrPercentValue(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && PERCENT_RE.test(v)) return Number(v.slice(0, -1));
  return 0;
}

function isPercent(v: unknown): boolean {
  return typeof v === 'string' && PERCENT_RE.test(v);
}

function validateRollingUpdate(ru: Obj, path: string, allowBothZero = false): FieldError[] {
  const errs: FieldError[] = [];
  errs.push(...validateIntOrPercent(ru.maxUnavailable, `${path}.maxUnavailable`));
  errs.push(...validateIntOrPercent(ru.maxSurge, `${path}.maxSurge`));
  if (!allowBothZero && ru.maxUnavailable !== undefined && intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0) {
    errs.push(invalidField(`${path}.maxUnavailable`, ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
  }
  if (isPercent(ru.maxUnavailable) && intOrPercentValue(ru.maxUnavailable) > 100) {
    errs.push(invalidField(`${path}.maxUnavailable`, ru.maxUnavailable, 'must not be greater than 100%'));
  }
  return errs;
}

export function validateDeployment(d: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(d, old, true, nameIsDNSSubdomain);
  const spec: Obj = isObj(d.spec) ? d.spec : {};
  errs.push(...checkInt(spec.replicas, 'spec.replicas'), ...validateNonnegative(spec.replicas, 'spec.replicas'));
  errs.push(...validateAppsSelectorAndTemplate(spec, 'ReplicaSet', 'deployment'));
  const st = isObj(spec.strategy) ? spec.strategy : {};
  if (st.type === 'Recreate') {
    if (st.rollingUpdate !== undefined && st.rollingUpdate !== null)
      errs.push(forbiddenField('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
  } else if (st.type === 'RollingUpdate') {
    if (!isObj(st.rollingUpdate)) errs.push(requiredField('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil'));
    else errs.push(...validateRollingUpdate(st.rollingUpdate, 'spec.strategy.rollingUpdate'));
  } else {
    errs.push(notSupportedField('spec.strategy.type', st.type ?? '', ['Recreate', 'RollingUpdate']));
  }
  errs.push(...validateNonnegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...validateNonnegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  if (typeof spec.progressDeadlineSeconds === 'number') {
    errs.push(...validateNonnegative(spec.progressDeadlineSeconds, 'spec.progressDeadlineSeconds'));
    if (spec.progressDeadlineSeconds <= (typeof spec.minReadySeconds === 'number' ? spec.minReadySeconds : 0)) {
      errs.push(invalidField('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
    }
  }
  errs.push(...appsSelectorImmutable(d, old));
  return errs;
}

export function validateDaemonSet(ds: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(ds, old, true, nameIsDNSSubdomain);
  const spec: Obj = isObj(ds.spec) ? ds.spec : {};
  errs.push(...validateAppsSelectorAndTemplate(spec, 'DaemonSet', 'daemonset'));
  errs.push(...validateNonnegative(spec.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...validateNonnegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  const us = isObj(spec.updateStrategy) ? spec.updateStrategy : {};
  if (us.type === 'RollingUpdate') {
    if (!isObj(us.rollingUpdate)) errs.push(requiredField('spec.updateStrategy.rollingUpdate'));
    else errs.push(...validateRollingUpdate(us.rollingUpdate, 'spec.updateStrategy.rollingUpdate'));
  } else if (us.type !== 'OnDelete') {
    errs.push(notSupportedField('spec.updateStrategy.type', us.type ?? '', ['OnDelete', 'RollingUpdate']));
  }
  errs.push(...appsSelectorImmutable(ds, old));
  return errs;
}

// ---------- Service ----------

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
function servicePortRepr(protocol: unknown, port: unknown): string {
  return `core.ServicePort{Name:"", Protocol:${formatValue(protocol ?? '')}, AppProtocol:(*string)(nil), Port:${Number(port) || 0}, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}`;
}

export function validateService(svc: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(svc, old, true, nameIsDNS1035Label);
  const spec: Obj = isObj(svc.spec) ? svc.spec : {};
  const type = spec.type;
  if (old) {
    const os: Obj = isObj(old.spec) ? old.spec : {};
    if (type !== 'ExternalName' && os.type !== 'ExternalName') {
      const oldIPs: string[] = list(os.clusterIPs).length ? list(os.clusterIPs) : os.clusterIP ? [os.clusterIP] : [];
      const newIPs: string[] = list(spec.clusterIPs).length ? list(spec.clusterIPs) : spec.clusterIP ? [spec.clusterIP] : [];
      const bothHeadless = os.clusterIP === 'None' && spec.clusterIP === 'None';
      if (!bothHeadless && oldIPs.length && newIPs.length && oldIPs[0] !== newIPs[0]) {
        errs.push(invalidField('spec.clusterIPs[0]', newIPs, 'may not change once set'));
      }
      if (!bothHeadless && oldIPs.length && newIPs.length === 0 && spec.clusterIP === '') {
        errs.push(invalidField('spec.clusterIPs[0]', [], 'primary clusterIP can not be unset'));
      }
    }
  }
  const headless = spec.clusterIP === 'None';
  const ports = list(spec.ports);
  if (spec.ports !== undefined && spec.ports !== null && !Array.isArray(spec.ports)) errs.push(invalidField('spec.ports', spec.ports, 'must be a list'));
  if (ports.length === 0 && !headless && type !== 'ExternalName') errs.push(requiredField('spec.ports'));
  switch (type) {
    case 'LoadBalancer':
      ports.forEach((p, i) => {
        if (isObj(p) && p.port === 10250) errs.push(invalidField(`spec.ports[${i}]`, p.port, 'may not expose port 10250 externally since it is used by kubelet'));
      });
      if (headless) errs.push(invalidField('spec.clusterIP', spec.clusterIP, "may not be set to 'None' for LoadBalancer services"));
      break;
    case 'NodePort':
      if (headless) errs.push(invalidField('spec.clusterIP', spec.clusterIP, "may not be set to 'None' for NodePort services"));
      break;
    case 'ExternalName':
      if (spec.clusterIP) errs.push(forbiddenField('spec.clusterIP', 'may not be set for ExternalName services'));
      if (typeof spec.externalName === 'string' && spec.externalName.length > 0) {
        const n = spec.externalName.endsWith('.') ? spec.externalName.slice(0, -1) : spec.externalName;
        for (const m of isDNS1123Subdomain(n)) errs.push(invalidField('spec.externalName', spec.externalName, m));
      } else errs.push(requiredField('spec.externalName'));
      break;
  }
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const pp = `spec.ports[${i}]`;
    if (!isObj(p)) {
      errs.push(invalidField(pp, p, 'must be an object'));
      return;
    }
    if (ports.length > 1 && !p.name) errs.push(requiredField(`${pp}.name`));
    else if (p.name) {
      for (const m of isDNS1123Label(String(p.name))) errs.push(invalidField(`${pp}.name`, p.name, m));
      if (names.has(p.name)) errs.push(duplicateField(`${pp}.name`, p.name));
      names.add(p.name);
    }
    if (typeof p.port !== 'number') errs.push(invalidField(`${pp}.port`, p.port ?? 0, 'must be between 1 and 65535, inclusive'));
    else for (const m of isValidPortNum(p.port)) errs.push(invalidField(`${pp}.port`, p.port, m));
    if (!p.protocol) errs.push(requiredField(`${pp}.protocol`));
    else if (!PROTOCOLS.includes(p.protocol)) errs.push(notSupportedField(`${pp}.protocol`, p.protocol, PROTOCOLS));
    if (p.targetPort !== undefined) errs.push(...validatePortNumOrName(p.targetPort, `${pp}.targetPort`));
    // Whether a nodePort is in --service-node-port-range is the NodePort allocator's call
    // (as upstream): validation knows no range.
    if (p.nodePort !== undefined && p.nodePort !== 0 && p.nodePort !== null && typeof p.nodePort !== 'number') {
      errs.push(invalidField(`${pp}.nodePort`, p.nodePort, 'must be an integer'));
    }
  });
  if (spec.selector !== undefined && spec.selector !== null) errs.push(...validateLabels(spec.selector, 'spec.selector'));
  if (!spec.sessionAffinity) errs.push(requiredField('spec.sessionAffinity'));
  else if (!['ClientIP', 'None'].includes(spec.sessionAffinity)) errs.push(notSupportedField('spec.sessionAffinity', spec.sessionAffinity, ['ClientIP', 'None']));
  else if (spec.sessionAffinity === 'ClientIP') {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (typeof t === 'number' && (t <= 0 || t > 86400))
      errs.push(invalidField('spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, 'must be greater than 0 and less than 86400'));
  }
  if (typeof spec.clusterIP === 'string' && spec.clusterIP !== '' && spec.clusterIP !== 'None' && !isIP(spec.clusterIP)) {
    errs.push(invalidField('spec.clusterIPs[0]', spec.clusterIP, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  }
  list(spec.externalIPs).forEach((ip: unknown, i: number) => {
    if (typeof ip !== 'string' || !isIP(ip)) errs.push(invalidField(`spec.externalIPs[${i}]`, ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  });
  if (!type) errs.push(requiredField('spec.type'));
  else if (!SERVICE_TYPES.includes(type)) errs.push(notSupportedField('spec.type', type, SERVICE_TYPES));
  if (type === 'ClusterIP') {
    ports.forEach((p, i) => {
      if (isObj(p) && p.nodePort) errs.push(forbiddenField(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
    });
  }
  const seenNode = new Set<string>();
  ports.forEach((p, i) => {
    if (!isObj(p) || !p.nodePort) return;
    const k = `${p.protocol}/${p.nodePort}`;
    if (seenNode.has(k)) errs.push(duplicateField(`spec.ports[${i}].nodePort`, p.nodePort));
    seenNode.add(k);
  });
  const seenPort = new Set<string>();
  ports.forEach((p, i) => {
    if (!isObj(p)) return;
    const k = `${p.protocol}/${p.port}`;
    if (seenPort.has(k)) {
      errs.push({ type: 'FieldValueDuplicate', field: `spec.ports[${i}]`, message: `spec.ports[${i}]: Duplicate value: ${servicePortRepr(p.protocol, p.port)}` });
    }
    seenPort.add(k);
  });
  if (spec.externalTrafficPolicy !== undefined && spec.externalTrafficPolicy !== '') {
    if (type !== 'NodePort' && type !== 'LoadBalancer')
      errs.push(invalidField('spec.externalTrafficPolicy', spec.externalTrafficPolicy, "may only be set when `type` is 'NodePort' or 'LoadBalancer'"));
    else if (!['Cluster', 'Local'].includes(spec.externalTrafficPolicy))
      errs.push(notSupportedField('spec.externalTrafficPolicy', spec.externalTrafficPolicy, ['Cluster', 'Local']));
  }
  if (spec.internalTrafficPolicy !== undefined && spec.internalTrafficPolicy !== null && !['Cluster', 'Local'].includes(spec.internalTrafficPolicy)) {
    errs.push(notSupportedField('spec.internalTrafficPolicy', spec.internalTrafficPolicy, ['Cluster', 'Local']));
  }
  if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null && !['PreferDualStack', 'RequireDualStack', 'SingleStack'].includes(spec.ipFamilyPolicy)) {
    errs.push(notSupportedField('spec.ipFamilyPolicy', spec.ipFamilyPolicy, ['PreferDualStack', 'RequireDualStack', 'SingleStack']));
  }
  list(spec.ipFamilies).forEach((f: unknown, i: number) => {
    if (f !== 'IPv4' && f !== 'IPv6') errs.push(notSupportedField(`spec.ipFamilies[${i}]`, f, ['IPv4', 'IPv6']));
  });
  return errs;
}

// ---------- Namespace, Node ----------

export function validateNamespace(ns: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(ns, old, false, nameIsDNSLabel);
  list(ns.spec?.finalizers).forEach((f: unknown, i: number) => {
    const p = `spec.finalizers[${i}]`;
    const s = String(f);
    const qn = isQualifiedName(s);
    if (qn.length) for (const m of qn) errs.push(invalidField(p, s, m));
    else if (!s.includes('/') && s !== 'kubernetes') errs.push(invalidField(p, s, 'name is neither a standard finalizer name nor is it fully qualified'));
  });
  return errs;
}

export function validateNode(node: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(node, old, false, nameIsDNSSubdomain);
  const spec: Obj = isObj(node.spec) ? node.spec : {};
  const cidrRe = /^[0-9a-fA-F:.]+\/\d{1,3}$/;
  if (spec.podCIDR && !cidrRe.test(String(spec.podCIDR))) errs.push(invalidField('spec.podCIDR', spec.podCIDR, 'must be a valid CIDR'));
  list(spec.podCIDRs).forEach((c: unknown, i: number) => {
    if (!cidrRe.test(String(c))) errs.push(invalidField(`spec.podCIDRs[${i}]`, c, 'must be a valid CIDR'));
  });
  list(spec.taints).forEach((t: JsonValue, i: number) => {
    const p = `spec.taints[${i}]`;
    if (!isObj(t)) return;
    if (!t.key) errs.push(requiredField(`${p}.key`));
    else errs.push(...validateLabelKey(String(t.key), `${p}.key`));
    if (t.value) errs.push(...validateLabelValue(String(t.value), `${p}.value`));
    if (!t.effect) errs.push(requiredField(`${p}.effect`));
    else if (!TAINT_EFFECTS.includes(t.effect)) errs.push(notSupportedField(`${p}.effect`, t.effect, TAINT_EFFECTS));
  });
  if (old) {
    const os: Obj = isObj(old.spec) ? old.spec : {};
    if (list(os.podCIDRs).length && !eq(list(os.podCIDRs), list(spec.podCIDRs)))
      errs.push(forbiddenField('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
    if (os.providerID && os.providerID !== spec.providerID)
      errs.push(forbiddenField('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  }
  return errs;
}

// ---------- ConfigMap, Secret, ServiceAccount ----------

const MAX_DATA_SIZE = 1024 * 1024;

function validateDataKeys(o: KObject, fields: string[], decodedSize: (field: string, v: unknown) => number): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  let total = 0;
  for (const f of fields) {
    const d = o[f];
    if (d === undefined || d === null) continue;
    if (!isObj(d)) {
      errs.push(invalidField(f, d, 'must be a map'));
      continue;
    }
    for (const [k, v] of Object.entries(d)) {
      for (const m of isConfigMapKey(k)) errs.push(invalidField(`${f}[${k}]`, k, m));
      if (seen.has(k)) errs.push(duplicateField(`${f}[${k}]`, k));
      seen.add(k);
      total += decodedSize(f, v);
    }
  }
  if (total > MAX_DATA_SIZE) errs.push(tooLongField(fields[0]!, '', MAX_DATA_SIZE));
  return errs;
}

function immutableData(o: KObject, old: KObject | undefined, fields: string[]): FieldError[] {
  if (!old || old.immutable !== true) return [];
  const errs: FieldError[] = [];
  if (o.immutable !== true) errs.push(forbiddenField('immutable', 'field is immutable when `immutable` is set'));
  for (const f of fields) if (!eq(o[f] ?? {}, old[f] ?? {})) errs.push(forbiddenField(f, 'field is immutable when `immutable` is set'));
  return errs;
}

export function validateConfigMap(cm: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(cm, old, true, nameIsDNSSubdomain);
  errs.push(
    ...validateDataKeys(cm, ['data', 'binaryData'], (f, v) => (f === 'data' ? String(v).length : Math.floor((String(v).length * 3) / 4))),
  );
  if (isObj(cm.data)) for (const [k, v] of Object.entries(cm.data)) if (typeof v !== 'string') errs.push(invalidField(`data[${k}]`, v, 'must be a string'));
  errs.push(...immutableData(cm, old, ['data', 'binaryData']));
  return errs;
}

function b64len(v: unknown): number {
  return Math.floor((String(v).replace(/=+$/, '').length * 3) / 4);
}

export function validateSecret(s: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(s, old, true, nameIsDNSSubdomain);
  errs.push(...validateDataKeys(s, ['data', 'stringData'], (f, v) => (f === 'data' ? b64len(v) : String(v).length)));
  if (isObj(s.data))
    for (const [k, v] of Object.entries(s.data))
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) errs.push(invalidField(`data[${k}]`, OMIT, 'must be base64 encoded'));
  const data: Obj = { ...(isObj(s.data) ? s.data : {}), ...(isObj(s.stringData) ? s.stringData : {}) };
  switch (s.type) {
    case 'kubernetes.io/service-account-token':
      if (!s.metadata?.annotations?.['kubernetes.io/service-account.name'])
        errs.push(requiredField("metadata.annotations[kubernetes.io/service-account.name]"));
      break;
    case 'kubernetes.io/dockercfg':
      if (!('.dockercfg' in data)) errs.push(requiredField('data[.dockercfg]'));
      break;
    case 'kubernetes.io/dockerconfigjson':
      if (!('.dockerconfigjson' in data)) errs.push(requiredField('data[.dockerconfigjson]'));
      break;
    case 'kubernetes.io/basic-auth':
      if (!('username' in data) && !('password' in data)) errs.push(requiredField('data[username]'));
      break;
    case 'kubernetes.io/ssh-auth':
      if (!('ssh-privatekey' in data)) errs.push(requiredField('data[ssh-privatekey]'));
      break;
    case 'kubernetes.io/tls':
      if (!('tls.crt' in data)) errs.push(requiredField('data[tls.crt]'));
      if (!('tls.key' in data)) errs.push(requiredField('data[tls.key]'));
      break;
    default:
      if (typeof s.type === 'string' && s.type !== 'Opaque' && s.type !== '' && isQualifiedName(s.type).length)
        for (const m of isQualifiedName(s.type)) errs.push(invalidField('type', s.type, m));
  }
  if (old) {
    if ((old.type ?? 'Opaque') !== (s.type ?? 'Opaque')) errs.push(invalidField('type', s.type ?? '', 'field is immutable'));
    errs.push(...immutableData(s, old, ['data']));
  }
  return errs;
}

export function validateServiceAccount(sa: KObject, old?: KObject): FieldError[] {
  return metaCreateOrUpdate(sa, old, true, nameIsDNSSubdomain);
}

// ---------- Endpoints, EndpointSlice ----------

export function validateEndpoints(ep: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(ep, old, true, nameIsDNSSubdomain);
  list(ep.subsets).forEach((ss: JsonValue, i: number) => {
    const p = `subsets[${i}]`;
    if (!isObj(ss)) return;
    if (list(ss.addresses).length === 0 && list(ss.notReadyAddresses).length === 0)
      errs.push(requiredField(p, 'must specify `addresses` or `notReadyAddresses`'));
    for (const f of ['addresses', 'notReadyAddresses']) {
      list(ss[f]).forEach((a: JsonValue, j: number) => {
        const ap = `${p}.${f}[${j}]`;
        if (!isObj(a) || typeof a.ip !== 'string' || !isIP(a.ip)) errs.push(invalidField(`${ap}.ip`, a?.ip ?? '', 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
        if (isObj(a) && a.hostname) for (const m of isDNS1123Label(String(a.hostname))) errs.push(invalidField(`${ap}.hostname`, a.hostname, m));
      });
    }
    const ports = list(ss.ports);
    ports.forEach((pt: JsonValue, j: number) => {
      const pp = `${p}.ports[${j}]`;
      if (!isObj(pt)) return;
      if (ports.length > 1 && !pt.name) errs.push(requiredField(`${pp}.name`));
      else if (pt.name) for (const m of isDNS1123Label(String(pt.name))) errs.push(invalidField(`${pp}.name`, pt.name, m));
      if (typeof pt.port !== 'number') errs.push(invalidField(`${pp}.port`, pt.port ?? 0, 'must be between 1 and 65535, inclusive'));
      else for (const m of isValidPortNum(pt.port)) errs.push(invalidField(`${pp}.port`, pt.port, m));
      if (!pt.protocol) errs.push(requiredField(`${pp}.protocol`));
      else if (!PROTOCOLS.includes(pt.protocol)) errs.push(notSupportedField(`${pp}.protocol`, pt.protocol, PROTOCOLS));
    });
  });
  return errs;
}

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];

export function validateEndpointSlice(es: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(es, old, true, nameIsDNSSubdomain);
  if (!es.addressType) errs.push(requiredField('addressType'));
  else if (!ADDRESS_TYPES.includes(es.addressType)) errs.push(notSupportedField('addressType', es.addressType, ADDRESS_TYPES));
  const eps = list(es.endpoints);
  if (eps.length > 1000) errs.push({ type: 'FieldValueTooLong', field: 'endpoints', message: 'endpoints: Too many: ' + eps.length + ': must have at most 1000 items' });
  eps.forEach((e: JsonValue, i: number) => {
    const p = `endpoints[${i}]`;
    if (!isObj(e)) return;
    const addrs = list(e.addresses);
    if (addrs.length === 0) errs.push(requiredField(`${p}.addresses`, 'must contain at least 1 address'));
    else if (addrs.length > 100) errs.push({ type: 'FieldValueTooLong', field: `${p}.addresses`, message: `${p}.addresses: Too many: ${addrs.length}: must have at most 100 items` });
    addrs.forEach((a: unknown, j: number) => {
      const ap = `${p}.addresses[${j}]`;
      const s = String(a);
      if (es.addressType === 'IPv4' && !/^\d+\.\d+\.\d+\.\d+$/.test(s)) errs.push(invalidField(ap, s, 'must be a valid IPv4 address'));
      if (es.addressType === 'IPv6' && !s.includes(':')) errs.push(invalidField(ap, s, 'must be a valid IPv6 address'));
      if (es.addressType === 'FQDN') for (const m of isDNS1123Subdomain(s)) errs.push(invalidField(ap, s, m));
    });
    if (e.hostname) for (const m of isDNS1123Label(String(e.hostname))) errs.push(invalidField(`${p}.hostname`, e.hostname, m));
    if (e.nodeName) for (const m of isDNS1123Subdomain(String(e.nodeName))) errs.push(invalidField(`${p}.nodeName`, e.nodeName, m));
  });
  const names = new Set<string>();
  list(es.ports).forEach((pt: JsonValue, i: number) => {
    const p = `ports[${i}]`;
    if (!isObj(pt)) return;
    const name = pt.name ?? '';
    if (name !== '') for (const m of isDNS1123Label(String(name))) errs.push(invalidField(`${p}.name`, name, m));
    if (names.has(name)) errs.push(duplicateField(`${p}.name`, name));
    names.add(name);
    if (pt.protocol !== undefined && !PROTOCOLS.includes(pt.protocol)) errs.push(notSupportedField(`${p}.protocol`, pt.protocol, PROTOCOLS));
    if (pt.port !== undefined && pt.port !== null) {
      if (typeof pt.port !== 'number') errs.push(invalidField(`${p}.port`, pt.port, 'must be an integer'));
      else for (const m of isValidPortNum(pt.port)) errs.push(invalidField(`${p}.port`, pt.port, m));
    }
  });
  if (old && old.addressType && es.addressType !== old.addressType) errs.push(invalidField('addressType', es.addressType ?? '', 'field is immutable'));
  return errs;
}

// ---------- Event, Lease ----------

export function validateEvent(ev: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(ev, old, true, nameIsDNSSubdomain);
  const io: Obj = isObj(ev.involvedObject) ? ev.involvedObject : {};
  const ns: string = ev.metadata?.namespace ?? '';
  const ioNs: string = io.namespace ?? '';
  // Legacy (core/v1) events: the event lives in its object's namespace; cluster-scoped objects'
  // events may live in "" or "default" for old clients.
  if (!ev.eventTime) {
    if (ioNs === '') {
      if (ns !== '' && ns !== 'default') errs.push(invalidField('involvedObject.namespace', ioNs, 'does not match event.namespace'));
    } else if (ns !== ioNs) {
      errs.push(invalidField('involvedObject.namespace', ioNs, 'does not match event.namespace'));
    }
  } else {
    if (ioNs !== '' && ns !== ioNs) errs.push(invalidField('involvedObject.namespace', ioNs, 'does not match event.namespace'));
    if (ev.type !== undefined && ev.type !== 'Normal' && ev.type !== 'Warning') errs.push(invalidField('type', ev.type, 'has invalid value: ' + String(ev.type)));
  }
  if (typeof ev.count === 'number' && ev.count < 0) errs.push(invalidField('count', ev.count, 'must be greater than or equal to 0'));
  return errs;
}

export function validateLease(l: KObject, old?: KObject): FieldError[] {
  const errs = metaCreateOrUpdate(l, old, true, nameIsDNSSubdomain);
  const spec: Obj = isObj(l.spec) ? l.spec : {};
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds !== null) {
    if (typeof spec.leaseDurationSeconds !== 'number' || spec.leaseDurationSeconds <= 0)
      errs.push(invalidField('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
  }
  if (typeof spec.leaseTransitions === 'number' && spec.leaseTransitions < 0)
    errs.push(invalidField('spec.leaseTransitions', spec.leaseTransitions, 'must be greater than or equal to 0'));
  return errs;
}
