// The impersonation stage (upstream's filters.WithImpersonation): a request carrying
// Impersonate-User (and Impersonate-Group, Impersonate-Uid, Impersonate-Extra-<key>) runs as
// that user once the authenticated user is authorized, for each of them, for the
// `impersonate` verb on users, groups, serviceaccounts, uids.authentication.k8s.io or
// userextras.authentication.k8s.io/<key>. The headers are removed before the request goes on.
import type { IncomingMessage } from 'node:http';
import { StatusError, badRequest, forbidden } from '../../api/status.js';
import { serviceAccountGroups, splitServiceAccountUsername } from '../../api/rbac.js';
import type { Decision, RequestAttributes, UserInfo } from './auth.js';

const USER = 'impersonate-user';
const GROUP = 'impersonate-group';
const UID = 'impersonate-uid';
const EXTRA = 'impersonate-extra-';
const ANONYMOUS = 'system:anonymous';
const AUTHENTICATED = 'system:authenticated';
const UNAUTHENTICATED = 'system:unauthenticated';
const AUTHN_GROUP = 'authentication.k8s.io';

export interface ImpersonationAuthorizer {
  authorize(user: UserInfo, a: RequestAttributes): Promise<Decision>;
}

function unescapeKey(k: string): string {
  try {
    return decodeURIComponent(k);
  } catch {
    return k;
  }
}

/** Whether the request asks to impersonate anything (cheap: the common request has no such header). */
export function wantsImpersonation(req: IncomingMessage): boolean {
  for (const k in req.headers) if (k.startsWith('impersonate-')) return true;
  return false;
}

/** The user the request runs as: `user` itself, or the one it may impersonate; throws 400 or 403. */
export async function impersonatedUser(req: IncomingMessage, user: UserInfo, authz: ImpersonationAuthorizer): Promise<UserInfo> {
  const h = req.headersDistinct;
  const name = h[USER]?.[0] ?? '';
  const groups = h[GROUP] ?? [];
  const uid = h[UID]?.[0] ?? '';
  const extras: Array<[string, string]> = [];
  for (const k of Object.keys(h)) {
    if (!k.startsWith(EXTRA)) continue;
    const key = unescapeKey(k.slice(EXTRA.length));
    for (const v of h[k] ?? []) extras.push([key, v]);
  }
  if (!name && !groups.length && !uid && !extras.length) return user; // empty headers ask for nothing
  if (!name) {
    const asked = [...groups.map((g) => `Group ${JSON.stringify(g)}`), ...(uid ? [`UID ${JSON.stringify(uid)}`] : []), ...extras.map(([k, v]) => `UserExtra ${k}=${JSON.stringify(v)}`)];
    throw new StatusError(badRequest(`requested [${asked.join(', ')}] without impersonating a user`));
  }

  const check = async (a: RequestAttributes, objName: string) => {
    const d = await authz.authorize(user, a);
    if (!d.allowed) throw new StatusError(forbidden(user.name, 'impersonate', a.resource, a.namespace, { group: a.group, name: objName, subresource: a.subresource, reason: d.reason }));
  };

  let out: UserInfo;
  const sa = splitServiceAccountUsername(name);
  if (sa) {
    await check({ verb: 'impersonate', group: '', resource: 'serviceaccounts', namespace: sa.namespace, name: sa.name }, sa.name);
    // A service account's groups are known; they are its own unless groups are asked for.
    out = { name, groups: groups.length ? [] : serviceAccountGroups(sa.namespace) };
  } else {
    await check({ verb: 'impersonate', group: '', resource: 'users', name }, name);
    out = { name, groups: [] };
  }
  for (const g of groups) {
    await check({ verb: 'impersonate', group: '', resource: 'groups', name: g }, g);
    out.groups.push(g);
  }
  if (uid) {
    await check({ verb: 'impersonate', group: AUTHN_GROUP, resource: 'uids', name: uid }, uid);
    out.uid = uid;
  }
  for (const [key, value] of extras) {
    await check({ verb: 'impersonate', group: AUTHN_GROUP, resource: 'userextras', subresource: key, name: value }, value);
    ((out.extra ??= {})[key] ??= []).push(value);
  }
  if (name !== ANONYMOUS) {
    if (!out.groups.includes(AUTHENTICATED) && !out.groups.includes(UNAUTHENTICATED)) out.groups.push(AUTHENTICATED);
  } else if (!out.groups.includes(UNAUTHENTICATED)) out.groups.push(UNAUTHENTICATED);

  for (const k of Object.keys(req.headers)) if (k.startsWith('impersonate-')) delete req.headers[k];
  return out;
}
