// What the CSR requestors may do with CertificateSigningRequests, as the default RBAC of a
// kubeadm cluster grants it: bootstrappers (system:node-bootstrapper) and nodes (system:node)
// create requests and read the ones they made. Lists and watches are not granted: a requestor
// reads its request by name. Everyone else is left to the authorization modes (RBAC grants the
// certificate controller and admins approval and status).
import { BOOTSTRAPPERS_GROUP } from '../../api/bootstraptoken.js';
import { NODE_USER_PREFIX, NODES_GROUP } from '../../api/certificates.js';
import type { Decision, RequestAttributes, UserInfo } from './auth.js';

export function authorizeCertificates(user: UserInfo, a: RequestAttributes): Decision | undefined {
  if (a.group !== 'certificates.k8s.io') return undefined;
  const requestor = user.groups.includes(BOOTSTRAPPERS_GROUP) || (user.groups.includes(NODES_GROUP) && user.name.startsWith(NODE_USER_PREFIX));
  if (!requestor) return undefined;
  if (a.resource !== 'certificatesigningrequests' || a.subresource) return { allowed: false };
  if (a.verb === 'create') return { allowed: true };
  if (a.verb === 'get' && a.name) return { allowed: true, needsRequestor: user.name };
  return { allowed: false };
}
