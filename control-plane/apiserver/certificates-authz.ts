// Who may touch CertificateSigningRequests besides system:masters, as the default RBAC of a
// kubeadm cluster grants it: bootstrappers (system:node-bootstrapper) and nodes (system:node)
// create requests and read the ones they made. Approving (the approval subresource, upstream's
// `approve` on signers) and issuing (status) are for admins and the controllers, which run as
// system:masters. Lists and watches are not granted: a requestor reads its request by name.
import { BOOTSTRAPPERS_GROUP } from '../../api/bootstraptoken.js';
import { NODE_USER_PREFIX, NODES_GROUP } from '../../api/certificates.js';
import type { Decision, RequestAttributes, UserInfo } from './auth.js';

export function authorizeCertificates(user: UserInfo, a: RequestAttributes): Decision | undefined {
  if (a.group !== 'certificates.k8s.io') return undefined;
  const requestor = user.groups.includes(BOOTSTRAPPERS_GROUP) || (user.groups.includes(NODES_GROUP) && user.name.startsWith(NODE_USER_PREFIX));
  if (!requestor || a.resource !== 'certificatesigningrequests' || a.subresource) return { allowed: false };
  if (a.verb === 'create') return { allowed: true };
  if (a.verb === 'get' && a.name) return { allowed: true, needsRequestor: user.name };
  return { allowed: false };
}
