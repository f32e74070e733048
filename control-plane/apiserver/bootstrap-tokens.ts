// Bootstrap token authentication (plugin/pkg/auth/authenticator/token/bootstrap) over the
// apiserver's Secrets watch cache, the per-address throttle on failed token attempts, and the
// data dir's join token kept as a bootstrap token Secret.
import { timingSafeEqual } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KObject } from '../../api/registry.js';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  BOOTSTRAP_USER_PREFIX,
  BOOTSTRAPPERS_GROUP,
  DEFAULT_NODE_TOKEN_GROUP,
  DEFAULT_TOKEN_USAGES,
  bootstrapGroupError,
  bootstrapTokenSecret,
  generateBootstrapToken,
  isSecretExpired,
  parseBootstrapToken,
  secretNameFor,
  secretString,
} from '../../api/bootstraptoken.js';
import { StatusError, tooManyRequests } from '../../api/status.js';
import { logger } from '../../api/log.js';
import type { TokenAuthenticator, TokenFailureGuard, UserInfo } from './auth.js';
import { keyFor, type ApiCore } from './core.js';

const log = logger('apiserver');

/** Finds `bootstrap-token-<id>` Secrets and checks a presented token against them. */
export class BootstrapTokenAuthenticator implements TokenAuthenticator {
  constructor(private readonly lookup: (secretName: string) => KObject | undefined) {}

  /** Over the core's Secrets watch cache (upstream uses a Secret lister the same way). */
  static forCore(core: ApiCore): BootstrapTokenAuthenticator {
    const def = core.find('', 'v1', 'secrets');
    if (!def) throw new Error('resource table has no secrets');
    const cache = core.cache(def);
    return new BootstrapTokenAuthenticator((name) => cache.objects.get(keyFor(def, BOOTSTRAP_TOKEN_NAMESPACE, name))?.obj);
  }

  authenticateToken(token: string): UserInfo | undefined {
    const t = parseBootstrapToken(token);
    if (!t) return undefined;
    const secret = this.lookup(secretNameFor(t.id));
    if (!secret || secret.metadata?.deletionTimestamp || secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) return undefined;
    const want = Buffer.from(secretString(secret, 'token-secret'));
    const got = Buffer.from(t.secret);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    if (secretString(secret, 'token-id') !== t.id) return undefined;
    if (isSecretExpired(secret)) return undefined;
    if (secretString(secret, 'usage-bootstrap-authentication') !== 'true') return undefined;
    const groups = new Set([BOOTSTRAPPERS_GROUP]);
    for (const g of secretString(secret, 'auth-extra-groups').split(',').filter(Boolean)) {
      if (bootstrapGroupError(g)) return undefined;
      groups.add(g);
    }
    return { name: `${BOOTSTRAP_USER_PREFIX}${t.id}`, groups: [...[...groups].sort(), 'system:authenticated'] };
  }
}

const MAX_TRACKED = 10_000;
const LOG_PER_MINUTE = 120;

export interface FailedTokenLimiterOptions {
  /** failed attempts an address may make at once */
  burst?: number;
  /** failed attempts it regains per second */
  perSecond?: number;
  now?: () => number;
}

/**
 * A token bucket per source address over failed bearer-token attempts. Once an address has
 * spent its bucket, every token it presents gets 429 with Retry-After (without being
 * checked, so guessing gains nothing) until the bucket refills; requests authenticated by
 * a client certificate are not affected. Each failure is logged until the address is
 * throttled, then one line says so; and lines are capped per minute, so the log stays
 * bounded under a flood from many addresses.
 */
export class FailedTokenLimiter implements TokenFailureGuard {
  private buckets = new Map<string, { tokens: number; at: number; throttled: boolean }>();
  private logWindow = 0;
  private logged = 0;
  private suppressed = 0;
  private readonly burst: number;
  private readonly perSecond: number;
  private readonly now: () => number;

  constructor(o: FailedTokenLimiterOptions = {}) {
    this.burst = o.burst ?? 10;
    this.perSecond = o.perSecond ?? 0.2;
    this.now = o.now ?? Date.now;
  }

  private bucket(ip: string): { tokens: number; at: number; throttled: boolean } | undefined {
    const b = this.buckets.get(ip);
    if (!b) return undefined;
    const t = this.now();
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
    b.at = t;
    if (b.tokens >= 1) b.throttled = false;
    return b;
  }

  retryAfterSeconds(ip: string): number {
    const b = this.bucket(ip);
    if (!b || b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }

  failed(ip: string, token: string): void {
    let b = this.bucket(ip);
    if (!b) {
      if (this.buckets.size >= MAX_TRACKED) this.sweep();
      b = { tokens: this.burst, at: this.now(), throttled: false };
      this.buckets.set(ip, b);
    }
    b.tokens = Math.max(0, b.tokens - 1);
    const id = parseBootstrapToken(token)?.id;
    if (b.tokens >= 1) {
      this.warn({ ip, ...(id ? { tokenId: id } : {}) }, 'bearer token authentication failed');
    } else if (!b.throttled) {
      b.throttled = true;
      this.warn({ ip, retryAfterSeconds: this.retryAfterSeconds(ip) }, 'too many failed token authentications from this address; throttling it');
    }
  }

  /** At most LOG_PER_MINUTE lines a minute whatever the number of addresses; the rest are counted. */
  private warn(fields: Record<string, unknown>, msg: string): void {
    const t = this.now();
    if (t - this.logWindow >= 60_000) {
      this.logWindow = t;
      this.logged = 0;
    }
    if (this.logged >= LOG_PER_MINUTE) {
      this.suppressed++;
      return;
    }
    this.logged++;
    log.warn({ ...fields, ...(this.suppressed ? { suppressedSinceLastLine: this.suppressed } : {}) }, msg);
    this.suppressed = 0;
  }

  /** Full buckets carry no state worth keeping; if that is not enough, the oldest tenth goes. */
  private sweep(): void {
    for (const ip of [...this.buckets.keys()]) {
      const b = this.bucket(ip);
      if (b && b.tokens >= this.burst) this.buckets.delete(ip);
    }
    if (this.buckets.size < MAX_TRACKED * 0.9) return;
    let drop = this.buckets.size - Math.floor(MAX_TRACKED * 0.9);
    for (const ip of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(ip);
    }
  }

  throttled(retryAfterSeconds: number): StatusError {
    return new StatusError(tooManyRequests(`too many failed authentication attempts, please try again after ${retryAfterSeconds} seconds`, retryAfterSeconds));
  }
}

/**
 * The data dir's `join-token` (the token `k8ts up` and the provisioning scripts hand to
 * nodes) as a bootstrap token Secret. Its expiration counts from when the file was written,
 * so restarts do not extend it; an expired file is replaced by a new token. A Secret that
 * already exists is left as it is (an admin may have changed or deleted it on purpose: a
 * deleted one comes back only when the file is replaced).
 */
export async function ensureJoinTokenSecret(core: ApiCore, dataDir: string, ttlMs: number): Promise<string> {
  const file = join(dataDir, 'join-token');
  const secretDef = core.find('', 'v1', 'secrets')!;
  let token = existsSync(file) ? (await readFile(file, 'utf8')).trim() : '';
  let written = existsSync(file) ? statSync(file).mtimeMs : Date.now();
  const expired = ttlMs > 0 && written + ttlMs <= Date.now();
  if (!parseBootstrapToken(token) || expired) {
    if (token) log.info({ file }, expired ? 'the join token expired; writing a new one' : 'the join token file is malformed; writing a new one');
    token = generateBootstrapToken();
    await writeFile(file, token + '\n', { mode: 0o600 });
    written = Date.now();
  }
  const t = parseBootstrapToken(token)!;
  const marker = join(dataDir, '.join-token-registered');
  const registered = existsSync(marker) && (await readFile(marker, 'utf8')).trim() === t.id;
  if (registered) return token;
  const secret = bootstrapTokenSecret({
    id: t.id,
    secret: t.secret,
    ...(ttlMs > 0 ? { expires: written + ttlMs } : {}),
    usages: DEFAULT_TOKEN_USAGES,
    groups: [DEFAULT_NODE_TOKEN_GROUP],
    description: `The join token of the control plane's data dir (${file}).`,
  });
  try {
    await core.create(secretDef, BOOTSTRAP_TOKEN_NAMESPACE, secret, {});
    log.info({ tokenId: t.id }, 'join token registered as a bootstrap token');
  } catch (err) {
    if (!(err instanceof StatusError && err.code === 409)) throw err;
  }
  await writeFile(marker, t.id + '\n', { mode: 0o600 });
  return token;
}
