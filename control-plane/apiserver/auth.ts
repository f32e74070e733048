// Authentication (client certificates verified by the TLS layer against the cluster CA, and
// bearer tokens) and authorization (system:masters may do everything; a node identity gets
// what its kubelet needs, as upstream's Node authorizer + NodeRestriction allow).
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { authorizeCertificates } from './certificates-authz.js';

export interface UserInfo {
  name: string;
  groups: string[];
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
  name?: string;
  /** For list/watch: a spec.nodeName=<x> field selector, if any. */
  nodeNameSelector?: string;
  /** For create: the object to be created (the node authorizer checks mirror pods). */
  object?: { metadata?: { annotations?: Record<string, string> }; spec?: { nodeName?: string } };
}

export type Decision =
  | { allowed: true; needsBoundPod?: string; needsRequestor?: string } // allowed if the pod is bound to this node / the object's spec.username is this user
  | { allowed: false; reason?: string };

const READ = new Set(['get', 'list', 'watch']);

/** system:node:<name> → <name>, else undefined. */
export function nodeNameOf(user: UserInfo): string | undefined {
  if (!user.groups.includes(NODES) || !user.name.startsWith('system:node:')) return undefined;
  return user.name.slice('system:node:'.length);
}

export function authorize(user: UserInfo, a: RequestAttributes): Decision {
  if (user.groups.includes(MASTERS)) return { allowed: true };
  const csr = authorizeCertificates(user, a);
  if (csr) return csr;
  const node = nodeNameOf(user);
  if (!node) return { allowed: false };
  const r = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const g = a.group;
  if (g === '') {
    switch (r) {
      case 'nodes':
        if (READ.has(a.verb)) return { allowed: true };
        if (['create', 'update', 'patch'].includes(a.verb) && a.name === node) return { allowed: true };
        if (a.verb === 'create' || a.name !== node) return { allowed: false, reason: `node "${node}" is not allowed to modify node "${a.name ?? ''}"` };
        return { allowed: false };
      case 'nodes/status':
        if (['get', 'update', 'patch'].includes(a.verb) && a.name === node) return { allowed: true };
        return { allowed: false, reason: `node "${node}" is not allowed to modify node "${a.name ?? ''}"` };
      case 'pods':
        if (READ.has(a.verb)) return { allowed: true };
        if (a.verb === 'delete' && a.name) return { allowed: true, needsBoundPod: node };
        // A kubelet mirrors its static pods into the apiserver, bound to itself (as upstream's
        // NodeRestriction admission allows).
        if (a.verb === 'create' && a.object?.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined && a.object.spec?.nodeName === node) {
          return { allowed: true };
        }
        if (a.verb === 'create') return { allowed: false, reason: `node "${node}" can only create mirror pods bound to itself` };
        return { allowed: false };
      case 'pods/status':
        if (a.verb === 'get') return { allowed: true };
        if ((a.verb === 'update' || a.verb === 'patch') && a.name) return { allowed: true, needsBoundPod: node };
        return { allowed: false };
      case 'events':
        if (['create', 'update', 'patch'].includes(a.verb) || READ.has(a.verb)) return { allowed: true };
        return { allowed: false };
      case 'services':
      case 'endpoints':
      case 'configmaps':
      case 'secrets':
      case 'namespaces':
        return READ.has(a.verb) ? { allowed: true } : { allowed: false };
    }
    return { allowed: false };
  }
  if (g === 'discovery.k8s.io' && r === 'endpointslices') return READ.has(a.verb) ? { allowed: true } : { allowed: false };
  if (g === 'events.k8s.io' && r === 'events') return { allowed: ['create', 'update', 'patch'].includes(a.verb) };
  if (g === 'coordination.k8s.io' && r === 'leases') {
    if (a.namespace === 'kube-node-lease' && a.name === node && ['get', 'create', 'update', 'patch', 'delete'].includes(a.verb)) return { allowed: true };
    return { allowed: false };
  }
  return { allowed: false };
}
