// Bootstrap tokens as kubeadm stores them (k8s.io/cluster-bootstrap/token/api): a Secret
// `bootstrap-token-<id>` of type bootstrap.kubernetes.io/token in kube-system, whose data
// holds token-id, token-secret, an optional RFC 3339 expiration, the usages and extra groups.
// The token itself is "<id>.<secret>", [a-z0-9]{6} "." [a-z0-9]{16}.
import { randomBytes } from 'node:crypto';
import type { KObject } from './registry.js';

export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_TOKEN_SECRET_PREFIX = 'bootstrap-token-';
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';
export const BOOTSTRAPPERS_GROUP = 'system:bootstrappers';
/** kubeadm's group for the tokens it makes for joining nodes. */
export const DEFAULT_NODE_TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
export const DEFAULT_TOKEN_USAGES = ['signing', 'authentication'];

const TOKEN_RE = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
const TOKEN_ID_RE = /^[a-z0-9]{6}$/;
const GROUP_RE = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

export interface BootstrapToken {
  id: string;
  secret: string;
  /** ms since epoch, undefined = never expires */
  expires?: number;
  usages: string[];
  groups: string[];
  description?: string;
}

/** "<id>.<secret>" into its parts; undefined when it is not a bootstrap token. */
export function parseBootstrapToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export function isBootstrapTokenId(s: string): boolean {
  return TOKEN_ID_RE.test(s);
}

/** ValidateBootstrapGroupName: the error text, undefined when valid. */
export function bootstrapGroupError(group: string): string | undefined {
  return GROUP_RE.test(group) ? undefined : `bootstrap group ${JSON.stringify(group)} is invalid (must match ${GROUP_RE.source})`;
}

function pick(n: number): string {
  // Rejection sampling keeps the 36 characters equally likely.
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n * 2)) {
      if (b < 252 && out.length < n) out += ALPHABET[b % 36];
    }
  }
  return out;
}

/** A random token of kubeadm's shape (GenerateBootstrapToken). */
export function generateBootstrapToken(): string {
  return `${pick(6)}.${pick(16)}`;
}

export function secretNameFor(id: string): string {
  return `${BOOTSTRAP_TOKEN_SECRET_PREFIX}${id}`;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The Secret that holds a token (BootstrapTokenToSecret). */
export function bootstrapTokenSecret(t: BootstrapToken): KObject {
  const data: Record<string, string> = { 'token-id': t.id, 'token-secret': t.secret };
  if (t.description) data.description = t.description;
  if (t.expires !== undefined) data.expiration = rfc3339(t.expires);
  for (const u of t.usages) data[`usage-bootstrap-${u}`] = 'true';
  if (t.groups.length) data['auth-extra-groups'] = t.groups.join(',');
  const b64: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) b64[k] = Buffer.from(v).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretNameFor(t.id), namespace: BOOTSTRAP_TOKEN_NAMESPACE },
    type: BOOTSTRAP_TOKEN_SECRET_TYPE,
    data: b64,
  };
}

/** data[key] of a Secret as text, '' when absent or not base64. */
export function secretString(secret: KObject, key: string): string {
  const v = secret.data?.[key];
  if (typeof v !== 'string') return '';
  return Buffer.from(v, 'base64').toString('utf8');
}

/** Expiration in ms; NaN when unparsable (treated as expired, as upstream), undefined when none. */
export function secretExpiration(secret: KObject): number | undefined {
  const e = secretString(secret, 'expiration');
  if (!e) return undefined;
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(e) ? Date.parse(e) : NaN;
}

export function isSecretExpired(secret: KObject, now = Date.now()): boolean {
  const exp = secretExpiration(secret);
  return exp !== undefined && (Number.isNaN(exp) || now >= exp);
}

/** BootstrapTokenFromSecret; undefined when the Secret is not a well-formed bootstrap token. */
export function bootstrapTokenFromSecret(secret: KObject): BootstrapToken | undefined {
  if (secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) return undefined;
  const id = secretString(secret, 'token-id');
  const sec = secretString(secret, 'token-secret');
  if (!parseBootstrapToken(`${id}.${sec}`) || secret.metadata?.name !== secretNameFor(id)) return undefined;
  const exp = secretExpiration(secret);
  const usages = Object.keys(secret.data ?? {})
    .filter((k) => k.startsWith('usage-bootstrap-') && secretString(secret, k) === 'true')
    .map((k) => k.slice('usage-bootstrap-'.length))
    .sort();
  const groups = secretString(secret, 'auth-extra-groups').split(',').filter(Boolean);
  const description = secretString(secret, 'description') || undefined;
  return { id, secret: sec, ...(exp !== undefined ? { expires: exp } : {}), usages, groups, ...(description ? { description } : {}) };
}
