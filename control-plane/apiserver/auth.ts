// Authentication (client certificates verified by the TLS layer against the cluster CA, and
// bearer tokens) and authorization: system:masters may do everything, then the modes of
// --authorization-mode in order (upstream's union authorizer): Node (authz/node.ts), RBAC
// (authz/rbac.ts), AlwaysAllow, AlwaysDeny.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { NodeAuthorizer } from './authz/node.js';
import type { RbacAuthorizer } from './authz/rbac.js';
import type { AuthorizationMode } from './authz/modes.js';

export type { AuthorizationMode } from './authz/modes.js';
import { authorizeCertificates } from './certificates-authz.js';

export interface UserInfo {
  name: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

export const MASTERS = 'system:masters';
export const NODES = 'system:nodes';
export const BOOTSTRAPPERS = 'system:bootstrappers';

// Keep-alive connections carry many requests: parse the peer certificate once per socket.
const socketUsers = new WeakMap<object, UserInfo | null>();

function certUser(sock: TLSSocket): UserInfo | null {
  const cached = socketUsers.get(sock);
  if (cached !== undefined) return cached;
  let user: UserInfo | null = null;
  if (sock.authorized) {
    const cert = sock.getPeerCertificate();
    const subj = cert?.subject as unknown as Record<string, string | string[]> | undefined;
    const cn = subj?.CN;
    const o = subj?.O;
    const name = Array.isArray(cn) ? cn[0] : cn;
    if (name) user = { name, groups: [...(Array.isArray(o) ? o : o ? [o] : []), 'system:authenticated'] };
  }
  socketUsers.set(sock, user);
  return user;
}

/** A source of bearer-token identities besides the static ones (bootstrap tokens). */
export interface TokenAuthenticator {
  authenticateToken(token: string): UserInfo | undefined;
}

/** Throttles addresses that present bad tokens (see bootstrap-tokens.ts). */
export interface TokenFailureGuard {
  /** > 0: the address must wait this long before a token of it is looked at again. */
  retryAfterSeconds(ip: string): number;
  failed(ip: string, token: string): void;
  /** What to answer a throttled address with (a 429 Status). */
  throttled(retryAfterSeconds: number): Error;
}

export class Authenticator {
  private tokens = new Map<string, UserInfo>();
  private tokenAuthenticators: TokenAuthenticator[] = [];

  constructor(private readonly guard?: TokenFailureGuard) {}

  addToken(token: string, user: UserInfo): void {
    this.tokens.set(token, user);
  }

  addTokenAuthenticator(a: TokenAuthenticator): void {
    this.tokenAuthenticators.push(a);
  }

  /** The request's user, or undefined for anonymous / unknown credentials; throws 429 for a throttled address. */
  authenticate(req: IncomingMessage): UserInfo | undefined {
    const auth = req.headers.authorization;
    if (auth && auth.startsWith('Bearer ')) {
      const tok = auth.slice(7).trim();
      const ip = req.socket.remoteAddress ?? '';
      const wait = this.guard?.retryAfterSeconds(ip) ?? 0;
      if (wait > 0) {
        const byCert = certUser(req.socket as TLSSocket);
        if (byCert) return byCert;
        throw this.guard!.throttled(wait);
      }
      const u = this.tokens.get(tok) ?? this.tokenAuthenticators.reduce<UserInfo | undefined>((found, a) => found ?? a.authenticateToken(tok), undefined);
      if (u) return u;
      const byCert = certUser(req.socket as TLSSocket);
      if (!byCert) this.guard?.failed(ip, tok);
      return byCert ?? undefined;
    }
    return certUser(req.socket as TLSSocket) ?? undefined;
  }
}

export interface RequestAttributes {
  verb: string; // get list watch create update patch delete deletecollection
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  /** The object's name; for list/watch, a metadata.name=<x> field selector's (as upstream's RequestInfo). */
  name?: string;
  /** A non-resource request (/api, /healthz, /metrics ...): its path; group and resource are then ''. */
  path?: string;
}

/** needsRequestor: allowed only if the object's spec.username is this user (their own CSR). */
export type Decision = { allowed: true; needsRequestor?: string; reason?: string } | { allowed: false; reason?: string };

/** system:node:<name> → <name>, else undefined. */
export function nodeNameOf(user: UserInfo): string | undefined {
  if (!user.groups.includes(NODES) || !user.name.startsWith('system:node:')) return undefined;
  return user.name.slice('system:node:'.length);
}


/** The authorizers of --authorization-mode, in order. */
export interface Authorizers {
  modes: readonly AuthorizationMode[];
  node?: NodeAuthorizer;
  rbac?: RbacAuthorizer;
}

const ALLOWED: Decision = { allowed: true };

/**
 * system:masters may do everything (upstream's privileged group authorizer); then each mode
 * until one allows; a refusal carries the modes' reasons, one per line. No mode here denies
 * outright (upstream's AlwaysDeny, too, only has no opinion, with its reason).
 */
export async function authorize(user: UserInfo, a: RequestAttributes, z: Authorizers): Promise<Decision> {
  if (user.groups.includes(MASTERS)) return ALLOWED;
  const csr = authorizeCertificates(user, a);
  if (csr) return csr;
  const reasons: string[] = [];
  for (const mode of z.modes) {
    let d: Decision | undefined;
    switch (mode) {
      case 'AlwaysAllow':
        return ALLOWED;
      case 'AlwaysDeny':
        d = { allowed: false, reason: 'Everything is forbidden.' };
        break;
      case 'Node': {
        const node = a.path === undefined ? nodeNameOf(user) : undefined;
        if (node && z.node) d = await z.node.authorize(node, a);
        break;
      }
      case 'RBAC':
        d = z.rbac?.authorize(user, a);
        break;
    }
    if (d?.allowed) return d;
    if (d?.reason) reasons.push(d.reason);
  }
  return reasons.length ? { allowed: false, reason: reasons.join('\n') } : { allowed: false };
}
