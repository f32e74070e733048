// Generic validators from k8s.io/apimachinery/pkg/util/validation and api/validation,
// returning FieldErrors with upstream's exact messages.
import type { FieldError } from './registry.js';
import { forbiddenField, invalidField, requiredField, tooLongField } from './field.js';
import type { JsonObject, JsonValue } from './object.js';

/** Finalizer names Kubernetes itself uses without a domain prefix. */
export const STANDARD_FINALIZERS = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1035LabelFmt = '[a-z]([-a-z0-9]*[a-z0-9])?';
const qualifiedNameFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const labelValueFmt = `(${qualifiedNameFmt})?`;

const dns1123LabelRe = new RegExp(`^${dns1123LabelFmt}$`);
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`);
const dns1035LabelRe = new RegExp(`^${dns1035LabelFmt}$`);
const qualifiedNameRe = new RegExp(`^${qualifiedNameFmt}$`);
const labelValueRe = new RegExp(`^${labelValueFmt}$`);

export const DNS1123_LABEL_MAX = 63;
export const DNS1123_SUBDOMAIN_MAX = 253;
export const DNS1035_LABEL_MAX = 63;

// Mirrors validation.RegexError: "<msg> (e.g. 'a',  or 'b', regex used for validation is '<re>')".
function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  return `${msg} (e.g. ${examples.map((e) => `'${e}'`).join(',  or ')}, regex used for validation is '${fmt}')`;
}

function maxLenError(n: number): string {
  return `must be no more than ${n} characters`;
}

/** IsDNS1123Label: returns the list of problems (empty if valid). */
export function isDNS1123Label(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1123_LABEL_MAX) errs.push(maxLenError(DNS1123_LABEL_MAX));
  if (!dns1123LabelRe.test(v)) {
    if (dns1123SubdomainRe.test(v)) errs.push("must not contain dots");
    else
      errs.push(
        regexError(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
          dns1123LabelFmt,
          'my-name',
          '123-abc',
        ),
      );
  }
  return errs;
}

export function isDNS1123Subdomain(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!dns1123SubdomainRe.test(v))
    errs.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        dns1123SubdomainFmt,
        'example.com',
      ),
    );
  return errs;
}

export function isDNS1035Label(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1035_LABEL_MAX) errs.push(maxLenError(DNS1035_LABEL_MAX));
  if (!dns1035LabelRe.test(v))
    errs.push(
      regexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        dns1035LabelFmt,
        'my-name',
        'abc-123',
      ),
    );
  return errs;
}

/** IsQualifiedName: "[prefix/]name" as used by label and annotation keys. */
export function isQualifiedName(v: string): string[] {
  const errs: string[] = [];
  const parts = v.split('/');
  let name: string;
  if (parts.length === 1) name = parts[0]!;
  else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part ' + 'must be non-empty');
    else for (const m of isDNS1123Subdomain(prefix)) errs.push('prefix part ' + m);
  } else {
    return [
      regexError(
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        qualifiedNameFmt,
        'MyName',
        'my.name',
        '123-abc',
      ) + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part ' + maxLenError(63));
  if (name.length > 0 && !qualifiedNameRe.test(name))
    errs.push(
      'name part ' +
        regexError(
          "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
          qualifiedNameFmt,
          'MyName',
          'my.name',
          '123-abc',
        ),
    );
  return errs;
}

export function isValidLabelValue(v: string): string[] {
  const errs: string[] = [];
  if (v.length > 63) errs.push(maxLenError(63));
  if (!labelValueRe.test(v))
    errs.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        labelValueFmt,
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  return errs;
}

export function validateLabelKey(k: string, field: string): FieldError[] {
  return isQualifiedName(k).map((m) => invalidField(field, k, m));
}

export function validateLabelValue(v: string, field: string): FieldError[] {
  return isValidLabelValue(v).map((m) => invalidField(field, v, m));
}

export function validateLabels(labels: unknown, field: string): FieldError[] {
  const errs: FieldError[] = [];
  if (labels === undefined || labels === null) return errs;
  if (typeof labels !== 'object' || Array.isArray(labels)) return [invalidField(field, labels, 'must be a map of strings')];
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    errs.push(...validateLabelKey(k, field));
    if (typeof v !== 'string') errs.push(invalidField(`${field}[${k}]`, v, 'must be a string'));
    else errs.push(...validateLabelValue(v, field));
  }
  return errs;
}

export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

export function validateAnnotations(annotations: unknown, field: string): FieldError[] {
  const errs: FieldError[] = [];
  if (annotations === undefined || annotations === null) return errs;
  if (typeof annotations !== 'object' || Array.isArray(annotations)) return [invalidField(field, annotations, 'must be a map of strings')];
  let total = 0;
  for (const [k, v] of Object.entries(annotations as Record<string, unknown>)) {
    // Annotation keys are checked case-insensitively upstream (lowercased before IsQualifiedName).
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(invalidField(field, k, m));
    if (typeof v !== 'string') errs.push(invalidField(`${field}[${k}]`, v, 'must be a string'));
    total += k.length + (typeof v === 'string' ? v.length : 0);
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT) errs.push(tooLongField(field, '', TOTAL_ANNOTATION_SIZE_LIMIT));
  return errs;
}

export type NameValidator = (name: string, prefix: boolean) => string[];

/** Names: generateName prefixes may end in '-' so upstream validates prefix+"a". */
function prefixAware(f: (v: string) => string[]): NameValidator {
  return (name, prefix) => f(prefix ? maskTrailingDash(name) : name);
}

function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? name.slice(0, -2) + 'a' : name;
}

export const nameIsDNSSubdomain = prefixAware(isDNS1123Subdomain);
export const nameIsDNSLabel = prefixAware(isDNS1123Label);
export const nameIsDNS1035Label = prefixAware(isDNS1035Label);

/** Path segment names cannot be "." or ".." nor contain "/" or "%" (ValidatePathSegmentName). */
export function validatePathSegmentName(name: string, prefix: boolean): string[] {
  if (!prefix && (name === '.' || name === '..')) return [`may not be '${name}'`];
  const errs: string[] = [];
  // The name may be any JSON (metadata.name: -1): never throw on it.
  for (const bad of ['/', '%']) if (String(name).includes(bad)) errs.push(`may not contain '${bad}'`);
  return errs;
}

export const namespaceNameValidator = prefixAware(isDNS1123Label);

export interface ObjectMetaOptions {
  namespaced: boolean;
  nameFn: NameValidator;
}

/** ValidateObjectMeta for create. */
export function validateObjectMeta(meta: JsonObject | undefined, opts: ObjectMetaOptions, path = 'metadata'): FieldError[] {
  const errs: FieldError[] = [];
  const m = meta ?? {};
  if (m.generateName) {
    for (const msg of opts.nameFn(m.generateName, true)) errs.push(invalidField(`${path}.generateName`, m.generateName, msg));
  }
  if (!m.name) {
    errs.push(requiredField(`${path}.name`, 'name or generateName is required'));
  } else {
    for (const msg of opts.nameFn(m.name, false)) errs.push(invalidField(`${path}.name`, m.name, msg));
  }
  if (opts.namespaced) {
    if (!m.namespace) errs.push(requiredField(`${path}.namespace`));
    else for (const msg of isDNS1123Label(m.namespace)) errs.push(invalidField(`${path}.namespace`, m.namespace, msg));
  } else if (m.namespace) {
    errs.push({ type: 'FieldValueForbidden', field: `${path}.namespace`, message: `${path}.namespace: Forbidden: not allowed on this type` });
  }
  if (m.generation !== undefined && typeof m.generation === 'number' && m.generation < 0) {
    errs.push(invalidField(`${path}.generation`, m.generation, 'must be greater than or equal to 0'));
  }
  errs.push(...validateLabels(m.labels, `${path}.labels`));
  errs.push(...validateAnnotations(m.annotations, `${path}.annotations`));
  if (m.ownerReferences !== undefined) errs.push(...validateOwnerReferences(m.ownerReferences, `${path}.ownerReferences`));
  if (m.finalizers !== undefined) {
    if (!Array.isArray(m.finalizers)) errs.push(invalidField(`${path}.finalizers`, m.finalizers, 'must be a list of strings'));
    else
      m.finalizers.forEach((f: unknown, i: number) => {
        if (typeof f !== 'string') errs.push(invalidField(`${path}.finalizers[${i}]`, f, 'must be a string'));
        else {
          const qn = isQualifiedName(f);
          for (const msg of qn) errs.push(invalidField(`${path}.finalizers`, f, msg));
          if (qn.length === 0 && !f.includes('/') && !STANDARD_FINALIZERS.has(f)) {
            errs.push(invalidField(`${path}.finalizers`, f, 'name is neither a standard finalizer name nor is it fully qualified'));
          }
        }
      });
    if (Array.isArray(m.finalizers) && m.finalizers.includes('orphan') && m.finalizers.includes('foregroundDeletion')) {
      errs.push(invalidField(`${path}.finalizers`, m.finalizers, 'finalizer orphan and foregroundDeletion cannot be both set'));
    }
  }
  return errs;
}

function validateOwnerReferences(refs: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!Array.isArray(refs)) return [invalidField(path, refs, 'must be a list')];
  let controllers = 0;
  refs.forEach((r: JsonValue, i: number) => {
    const p = `${path}[${i}]`;
    if (!r || typeof r !== 'object') {
      errs.push(invalidField(p, r, 'must be an object'));
      return;
    }
    if (!r.apiVersion) errs.push(invalidField(`${p}.apiVersion`, r.apiVersion ?? '', 'version must not be empty'));
    if (!r.kind) errs.push(invalidField(`${p}.kind`, r.kind ?? '', 'kind must not be empty'));
    if (!r.name) errs.push(invalidField(`${p}.name`, r.name ?? '', 'name must not be empty'));
    if (!r.uid) errs.push(invalidField(`${p}.uid`, r.uid ?? '', 'uid must not be empty'));
    if (r.controller === true) controllers++;
  });
  if (controllers > 1) {
    errs.push(invalidField(path, refs, 'Only one reference can have Controller set to true. Found "true" in references for ' + refs.filter((r: JsonValue) => r?.controller === true).map((r: JsonValue) => `${r.kind}/${r.name}`).join(' and ')));
  }
  return errs;
}

/** ValidateObjectMetaUpdate: name, namespace, uid, creationTimestamp are immutable. */
export function validateObjectMetaUpdate(meta: JsonObject | undefined, old: JsonObject | undefined, path = 'metadata'): FieldError[] {
  const errs: FieldError[] = [];
  const m = meta ?? {};
  const o = old ?? {};
  const immutable = (f: string) => {
    if (o[f] !== undefined && m[f] !== undefined && m[f] !== o[f]) errs.push(invalidField(`${path}.${f}`, m[f], 'field is immutable'));
  };
  immutable('name');
  immutable('namespace');
  immutable('uid');
  immutable('creationTimestamp');
  if (o.generateName !== undefined && m.generateName !== undefined && m.generateName !== o.generateName) {
    errs.push(invalidField(`${path}.generateName`, m.generateName, 'field is immutable'));
  }
  errs.push(...validateLabels(m.labels, `${path}.labels`));
  errs.push(...validateAnnotations(m.annotations, `${path}.annotations`));
  if (m.ownerReferences !== undefined) errs.push(...validateOwnerReferences(m.ownerReferences, `${path}.ownerReferences`));
  if (Array.isArray(m.finalizers)) {
    // Finalizer names are checked on update too (controllers add them then).
    errs.push(...validateObjectMeta({ name: 'x', finalizers: m.finalizers }, { namespaced: false, nameFn: () => [] }, path).filter((e) => e.field.startsWith(`${path}.finalizers`)));
    // Only an object already being deleted refuses new finalizers (the delete itself may add some).
    if (o.deletionTimestamp) {
      const before: unknown[] = Array.isArray(o.finalizers) ? o.finalizers : [];
      const extra = [...new Set((m.finalizers as unknown[]).filter((f) => !before.includes(f)).map(String))].sort();
      if (extra.length) {
        errs.push(forbiddenField(`${path}.finalizers`, `no new finalizers can be added if the object is being deleted, found new finalizers []string{${extra.map((f) => JSON.stringify(f)).join(', ')}}`));
      }
    }
  }
  return errs;
}

/** ValidateNonnegativeField. */
export function validateNonnegative(v: unknown, field: string): FieldError[] {
  if (typeof v === 'number' && v < 0) return [invalidField(field, v, 'must be greater than or equal to 0')];
  return [];
}

export function isValidPortNum(p: number): string[] {
  if (Number.isInteger(p) && p >= 1 && p <= 65535) return [];
  return ['must be between 1 and 65535, inclusive'];
}

export { isIP, isIPv4, isIPv6 } from './net.js';

/** ConfigMap/Secret keys: IsConfigMapKey. */
export function isConfigMapKey(k: string): string[] {
  const errs: string[] = [];
  if (k.length > DNS1123_SUBDOMAIN_MAX) errs.push(maxLenError(DNS1123_SUBDOMAIN_MAX));
  if (!/^[-._a-zA-Z0-9]+$/.test(k))
    errs.push(regexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", '[-._a-zA-Z0-9]+', 'key.name', 'KEY_NAME', 'key-name'));
  if (k === '.') errs.push("must not be '.'");
  else if (k === '..') errs.push("must not be '..'");
  else if (k.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

/** IsCIdentifier-ish env var names: upstream allows any printable ASCII except '=' since 1.30 (RelaxedEnvironmentVariableValidation is beta, on). */
export function isEnvVarName(k: string): string[] {
  if (k.length === 0) return ['environment variable name must not be empty'];
  if (!/^[ -<>-~]+$/.test(k)) return ["a valid environment variable name must consist only of printable ASCII characters other than '='"];
  return [];
}
