// upstream's EncryptionConfiguration (apiserver.config.k8s.io/v1), read as kube-apiserver's
// --encryption-provider-config reads it: strict decoding, the same validation and messages
// (k8s.io/apiserver/pkg/apis/apiserver/validation), resources matched exactly, then by
// '*.<group>', then by '*.*', anything else stored as is. KMS providers are refused: k8ts
// has no KMS plugin client.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, unwatchFile, watchFile, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Logger } from 'pino';
import { aggregateMessage, forbiddenField, invalidField, OMIT, requiredField } from '../../../api/field.js';
import type { FieldError } from '../../../api/registry.js';
import { identity, prefixTransformers, providerTransformer, type PrefixTransformer, type ProviderType, type Transformer } from './transformers.js';

export const ENCRYPTION_CONFIG_API_VERSION = 'apiserver.config.k8s.io/v1';
export const ENCRYPTION_CONFIG_KIND = 'EncryptionConfiguration';

export interface EncryptionKey {
  name: string;
  secret: string;
}

export interface ProviderConfiguration {
  aesgcm?: { keys: EncryptionKey[] };
  aescbc?: { keys: EncryptionKey[] };
  secretbox?: { keys: EncryptionKey[] };
  identity?: Record<string, never>;
  kms?: Record<string, unknown>;
}

export interface EncryptionConfiguration {
  apiVersion: string;
  kind: string;
  resources: Array<{ resources: string[]; providers: ProviderConfiguration[] }>;
}

/** A configuration that cannot be used; the message says what and where, as upstream's. */
export class EncryptionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncryptionConfigError';
  }
}

// The schema strict decoding holds the file to: field -> its type (or nested schema).
type Schema = { [field: string]: 'string' | 'number' | 'any' | Schema | [Schema | 'string'] };
const KEYS: Schema = { keys: [{ name: 'string', secret: 'string' }] };
const SCHEMA: Schema = {
  apiVersion: 'string',
  kind: 'string',
  resources: [
    {
      resources: ['string'],
      providers: [
        {
          aesgcm: KEYS,
          aescbc: KEYS,
          secretbox: KEYS,
          identity: {},
          kms: { apiVersion: 'string', name: 'string', cachesize: 'number', endpoint: 'string', timeout: 'any' },
        },
      ],
    },
  ],
};

/** Unknown fields and wrong types, as upstream's strict decoder reports them. */
function strictDecodeErrors(v: unknown, schema: Schema | 'string' | 'number' | 'any', path: string, out: string[]): void {
  if (schema === 'any' || v === null || v === undefined) return;
  if (schema === 'string' || schema === 'number') {
    if (typeof v !== schema) out.push(`${path}: expected ${schema}, got ${Array.isArray(v) ? 'list' : typeof v}`);
    return;
  }
  if (typeof v !== 'object' || Array.isArray(v)) {
    out.push(`${path || '<root>'}: expected an object, got ${Array.isArray(v) ? 'list' : typeof v}`);
    return;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const sub = Object.hasOwn(schema, k) ? schema[k] : undefined;
    const p = path ? `${path}.${k}` : k;
    if (sub === undefined) {
      out.push(`unknown field "${p}"`);
    } else if (Array.isArray(sub)) {
      if (x === null || x === undefined) continue;
      if (!Array.isArray(x)) {
        out.push(`${p}: expected a list, got ${typeof x}`);
        continue;
      }
      x.forEach((e, i) => strictDecodeErrors(e, sub[0]!, `${p}[${i}]`, out));
    } else {
      strictDecodeErrors(x, sub, p, out);
    }
  }
}

/** Parses the file's text (YAML or JSON). Throws EncryptionConfigError. */
export function parseEncryptionConfiguration(text: string, file: string): EncryptionConfiguration {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new EncryptionConfigError(`error decoding encryption provider configuration file "${file}": ${(err as Error).message.split('\n')[0]}`);
  }
  const d = (doc ?? {}) as Record<string, unknown>;
  if (typeof d !== 'object' || Array.isArray(d) || typeof d.kind !== 'string' || typeof d.apiVersion !== 'string') {
    throw new EncryptionConfigError(`error decoding encryption provider configuration file "${file}": Object 'Kind' is missing or 'apiVersion' is missing`);
  }
  if (d.apiVersion !== ENCRYPTION_CONFIG_API_VERSION || d.kind !== ENCRYPTION_CONFIG_KIND) {
    throw new EncryptionConfigError(
      `error decoding encryption provider configuration file "${file}": no kind "${d.kind}" is registered for version "${d.apiVersion}" (want kind ${ENCRYPTION_CONFIG_KIND}, apiVersion ${ENCRYPTION_CONFIG_API_VERSION})`,
    );
  }
  const errs: string[] = [];
  strictDecodeErrors(d, SCHEMA, '', errs);
  if (errs.length) {
    throw new EncryptionConfigError(`error decoding encryption provider configuration file "${file}": strict decoding error: ${errs.join(', ')}`);
  }
  return { apiVersion: d.apiVersion, kind: d.kind, resources: (d.resources as EncryptionConfiguration['resources'] | undefined) ?? [] };
}

interface GroupResource {
  group: string;
  resource: string;
}

/** upstream's schema.ParseGroupResource: "deployments.apps", "*.apps", "*." (the core group), "*.*". */
function parseGroupResource(s: string): GroupResource {
  const i = s.indexOf('.');
  return i < 0 ? { group: '', resource: s } : { group: s.slice(i + 1), resource: s.slice(0, i) };
}

const grKey = (gr: GroupResource) => `${gr.group}/${gr.resource}`;
const grString = (gr: GroupResource) => (gr.group === '' && gr.resource === '*' ? '*.' : gr.group ? `${gr.resource}.${gr.group}` : gr.resource);

const AES_KEY_SIZES = [16, 24, 32];
const SECRETBOX_KEY_SIZES = [32];

/** Go's base64.StdEncoding: the standard alphabet, padded; line breaks are skipped. */
function decodeStdBase64(s: string): Buffer | undefined {
  const t = s.replace(/[\r\n]/g, '');
  if (t.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(t)) return undefined;
  return Buffer.from(t, 'base64');
}

function validateKeys(keys: EncryptionKey[] | undefined, path: string, sizes: number[]): FieldError[] {
  if (!keys?.length) return [requiredField(path, 'at least one keys is required')];
  const errs: FieldError[] = [];
  keys.forEach((k, i) => {
    const p = `${path}[${i}]`;
    if (!k?.name) errs.push(requiredField(`${p}.name`, 'name is a mandatory field for a key'));
    if (!k?.secret) {
      errs.push(requiredField(`${p}.secret`, 'secret is a mandatory field for a key'));
      return;
    }
    const secret = decodeStdBase64(k.secret);
    if (!secret) {
      errs.push(invalidField(`${p}.secret`, 'REDACTED', 'secrets must be base64 encoded'));
    } else if (!sizes.includes(secret.length)) {
      errs.push(invalidField(`${p}.secret`, 'REDACTED', `secret is not of the expected length, got ${secret.length}, expected one of [${sizes.join(' ')}]`));
    }
  });
  return errs;
}

function validateResourceNames(resources: string[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  resources.forEach((res, j) => {
    const p = `${path}[${j}]`;
    const gr = parseGroupResource(res);
    let msg: string | undefined;
    if (res.toLowerCase() !== res) msg = 'resource name should not contain capital letters';
    else if (res === '*') msg = "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources";
    else if (['apiserveripinfo', 'serviceipallocations', 'servicenodeportallocations'].includes(res)) msg = 'resources which do not have REST API/s cannot be encrypted';
    else if (gr.group === 'events.k8s.io') msg = "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file";
    else if (gr.group === 'extensions') msg = "'extensions' group has been removed and cannot be used for encryption";
    else if (gr.group === '*' && gr.resource !== '*') msg = 'encrypting the same resource across groups is not supported';
    if (msg) errs.push(invalidField(p, res, msg));
  });
  return errs;
}

function validateResourceOverlap(resources: string[], path: string): FieldError[] {
  if (resources.length < 2) return [];
  const grs = resources.map(parseGroupResource);
  let duplicate = false;
  let overlap = false;
  for (let i = 0; i < grs.length; i++) {
    for (let j = 0; j < grs.length; j++) {
      if (i === j) continue;
      const a = grs[i]!;
      const b = grs[j]!;
      if (a.group === b.group && a.resource === b.resource) duplicate = true;
      else if (a.group === '*' && a.resource === '*') overlap = true;
      else if (a.group === b.group && (a.resource === '*' || b.resource === '*')) overlap = true;
    }
  }
  const errs: FieldError[] = [];
  if (duplicate) errs.push(invalidField(path, resources, 'the same resource cannot be specified multiple times'));
  if (overlap) errs.push(invalidField(path, resources, "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked"));
  return errs;
}

const PROVIDER_NAMES = ['aesgcm', 'aescbc', 'secretbox', 'identity', 'kms'] as const;

/** upstream's ValidateEncryptionConfiguration, less KMS (refused). */
export function validateEncryptionConfiguration(c: EncryptionConfiguration): FieldError[] {
  if (!c.resources?.length) return [requiredField('resources', 'at least one resources is required')];
  const errs: FieldError[] = [];
  c.resources.forEach((conf, i) => {
    const r = `resources[${i}].resources`;
    const p = `resources[${i}].providers`;
    const resources = conf?.resources ?? [];
    if (!resources.length) errs.push(requiredField(r, `at least one ${r} is required`));
    errs.push(...validateResourceOverlap(resources, r), ...validateResourceNames(resources, r));
    const providers = conf?.providers ?? [];
    if (!providers.length) errs.push(requiredField(p, `at least one ${p} is required`));
    providers.forEach((prov, j) => {
      const path = `${p}[${j}]`;
      const present = PROVIDER_NAMES.filter((n) => prov?.[n] !== undefined && prov?.[n] !== null);
      if (present.length === 0) {
        errs.push(invalidField(path, OMIT, 'provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity'));
        return;
      }
      if (present.length > 1) {
        errs.push(invalidField(path, OMIT, 'more than one provider specified in a single element, should split into different list elements'));
        return;
      }
      const kind = present[0]!;
      if (kind === 'kms') {
        errs.push(forbiddenField(`${path}.kms`, 'KMS providers are not supported by k8ts (it has no KMS plugin client); use aescbc, aesgcm, secretbox or identity'));
      } else if (kind !== 'identity') {
        errs.push(...validateKeys(prov[kind]!.keys, `${path}.${kind}.keys`, kind === 'secretbox' ? SECRETBOX_KEY_SIZES : AES_KEY_SIZES));
      }
    });
  });
  return errs;
}

/** Which transformer serves which resource, looked up by store key (/registry/<group|core>/<plural>/...). */
export class ResourceTransformers {
  private byKeyPrefix = new Map<string, Transformer>();

  constructor(private overrides: Map<string, Transformer>) {}

  /** The resource's transformer, as upstream's transformerFromOverrides. */
  forResource(group: string, resource: string): Transformer {
    return this.overrides.get(`${group}/${resource}`) ?? this.overrides.get(`${group}/*`) ?? this.overrides.get('*/*') ?? identity;
  }

  forKey(key: string): Transformer {
    const b = key.indexOf('/', 10);
    const c = b < 0 ? -1 : key.indexOf('/', b + 1);
    if (c < 0 || !key.startsWith('/registry/')) return identity;
    const prefix = key.slice(10, c); // "<group|core>/<plural>"
    let t = this.byKeyPrefix.get(prefix);
    if (!t) {
      const group = key.slice(10, b);
      t = this.forResource(group === 'core' ? '' : group, key.slice(b + 1, c));
      this.byKeyPrefix.set(prefix, t);
    }
    return t;
  }

  /** Swaps in another configuration's transformers (automatic reload). */
  replace(next: ResourceTransformers): void {
    this.overrides = next.overrides;
    this.byKeyPrefix = new Map();
  }
}

/** Builds the transformers of a valid configuration. */
export function buildTransformers(c: EncryptionConfiguration): ResourceTransformers {
  const lists = new Map<string, PrefixTransformer[]>();
  for (const conf of c.resources) {
    const list: PrefixTransformer[] = conf.providers.map((p) => {
      if (p.identity) return { prefix: '', transformer: identity };
      const type = (['aesgcm', 'aescbc', 'secretbox'] as ProviderType[]).find((t) => p[t])!;
      return providerTransformer(
        type,
        p[type]!.keys.map((k) => ({ name: k.name, secret: decodeStdBase64(k.secret)! })),
      );
    });
    for (const res of conf.resources) {
      const gr = parseGroupResource(res);
      for (const masking of [{ group: gr.group, resource: '*' }, { group: '*', resource: '*' }]) {
        if (lists.has(grKey(masking))) {
          throw new EncryptionConfigError(`error while building transformers: resource "${grString(gr)}" is masked by earlier rule "${grString(masking)}"`);
        }
      }
      lists.set(grKey(gr), [...(lists.get(grKey(gr)) ?? []), ...list]);
    }
  }
  const overrides = new Map<string, Transformer>();
  for (const [k, list] of lists) overrides.set(k, prefixTransformers('no matching prefix found', list));
  return new ResourceTransformers(overrides);
}

/** Parses, validates and builds; throws EncryptionConfigError with upstream's wording. */
export function encryptionConfigFromText(text: string, file: string): ResourceTransformers {
  if (text.length === 0) throw new EncryptionConfigError(`error while parsing file: encryption provider configuration file "${file}" is empty`);
  let config: EncryptionConfiguration;
  try {
    config = parseEncryptionConfiguration(text, file);
  } catch (err) {
    throw new EncryptionConfigError(`error while parsing file: ${(err as Error).message}`);
  }
  const errs = validateEncryptionConfiguration(config);
  if (errs.length) throw new EncryptionConfigError(`error while parsing file: ${aggregateMessage(errs)}`);
  return buildTransformers(config);
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new EncryptionConfigError(
      `error while parsing file: error while loading file: error reading encryption provider configuration file "${file}": ${(err as Error).message}`,
    );
  }
}

export interface LoadedEncryptionConfig {
  transformers: ResourceTransformers;
  /** Stops the automatic reload, when on. */
  stop(): void;
}

/**
 * kube-apiserver's --encryption-provider-config: read once at start (an unusable file is
 * an EncryptionConfigError, and the apiserver does not start). With `automaticReload` the
 * file is checked every `pollMs` and a changed, valid file takes effect for every request
 * after it; a changed, invalid one is logged and the running configuration kept, as
 * upstream's --encryption-provider-config-automatic-reload does.
 */
export function loadEncryptionConfig(file: string, opts: { automaticReload?: boolean; log?: Logger; pollMs?: number } = {}): LoadedEncryptionConfig {
  let text = readConfigFile(file);
  const transformers = encryptionConfigFromText(text, file);
  if (!opts.automaticReload) return { transformers, stop: () => undefined };
  const hash = (s: string) => createHash('sha256').update(s).digest('hex');
  let current = hash(text);
  const check = () => {
    try {
      text = readConfigFile(file);
      const h = hash(text);
      if (h === current) return;
      current = h;
      transformers.replace(encryptionConfigFromText(text, file));
      opts.log?.info({ file }, 'loaded new encryption provider configuration');
    } catch (err) {
      opts.log?.error({ file, err: (err as Error).message }, 'failed to reload encryption provider configuration; keeping the one in use');
    }
  };
  watchFile(file, { interval: opts.pollMs ?? 1000, persistent: false }, check);
  return { transformers, stop: () => unwatchFile(file, check) };
}

/**
 * A configuration for Secrets with one new random key, identity as the fallback so that
 * Secrets stored before encryption was turned on stay readable (and are encrypted when
 * next written).
 */
export function generatedEncryptionConfig(provider: ProviderType, secret: Buffer, keyName = 'key1'): string {
  return [
    `apiVersion: ${ENCRYPTION_CONFIG_API_VERSION}`,
    `kind: ${ENCRYPTION_CONFIG_KIND}`,
    'resources:',
    '  - resources:',
    '      - secrets',
    '    providers:',
    `      - ${provider}:`,
    '          keys:',
    `            - name: ${keyName}`,
    `              secret: ${secret.toString('base64')}`,
    '      - identity: {}',
    '',
  ].join('\n');
}

/**
 * The configuration `k8ts up` gives its control plane: <dataDir>/encryption-config.yaml,
 * written once (0600) with a new 32-byte aescbc key and kept from then on, since a new key
 * would leave the Secrets written under the old one unreadable. aescbc because its AES runs
 * natively (secretbox is pure JavaScript here and costs several times as much CPU per
 * Secret), and because aesgcm's random nonces want key rotation upstream does not automate.
 * scripts/vagrant/lib.sh (ensure_encryption_config) writes the same for the Vagrant VMs.
 */
export function ensureEncryptionConfig(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'encryption-config.yaml');
  try {
    writeFileSync(file, generatedEncryptionConfig('aescbc', randomBytes(32)), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return file;
}
