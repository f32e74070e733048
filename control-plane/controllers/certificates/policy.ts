// What the approver decides for one CertificateSigningRequest, as a pure function of the
// request and the facts it needs (the Node of that name, the other Nodes, the names reserved
// for the apiserver and cluster Services). Upstream's sarapprove.go approves two kinds:
//   - selfnodeclient: a node renewing its own client certificate;
//   - nodeclient: a bootstrapper (bootstrap token) asking for a node client certificate.
// k8ts adds two rules of its own:
//   - a bootstrap token cannot get a certificate for a node name that is already registered
//     (the request is Denied: NodeAlreadyRegistered);
//   - kubelet serving certificates (which upstream never auto-approves) are approved when the
//     node itself asks and every subjectAltName is its own registered name or address and
//     claimed by no other Node; a name reserved for the apiserver or cluster Services
//     (kubernetes.default.svc, localhost, loopback, the Service range, the apiserver's own
//     names and addresses) is Denied: ReservedSubjectAltName, whoever asks.
import { BlockList, isIP } from 'node:net';
import { BOOTSTRAPPERS_GROUP } from '../../../api/bootstraptoken.js';
import {
  KUBELET_CLIENT_SIGNER,
  KUBELET_SERVING_SIGNER,
  NODE_USER_PREFIX,
  NODES_GROUP,
  isApproved,
  isDenied,
  isIssued,
  kubeletClientCSRError,
  kubeletServingCSRError,
  requestorOf,
} from '../../../api/certificates.js';
import type { CertificateRequest } from '../../../api/csr.js';
import type { KObject } from '../../../api/registry.js';

export type Decision =
  | { action: 'approve'; reason: 'AutoApproved'; message: string }
  | { action: 'deny'; reason: 'NodeAlreadyRegistered' | 'ReservedSubjectAltName'; message: string }
  | { action: 'none'; why: string };

/** Names and addresses no kubelet may serve as. */
export class ReservedNames {
  private readonly ips = new BlockList();
  private readonly dns = new Set(['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local']);

  constructor(serviceCIDRs: string[] = ['10.96.0.0/12'], extra: string[] = []) {
    this.ips.addSubnet('127.0.0.0', 8, 'ipv4');
    this.ips.addSubnet('0.0.0.0', 8, 'ipv4');
    this.ips.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local: cloud metadata services
    this.ips.addAddress('::1', 'ipv6');
    this.ips.addAddress('::', 'ipv6');
    this.ips.addSubnet('fe80::', 10, 'ipv6');
    for (const c of serviceCIDRs) {
      const [ip, bits] = c.split('/');
      const fam = isIP(ip ?? '');
      if (fam) this.ips.addSubnet(ip!, Number(bits), fam === 4 ? 'ipv4' : 'ipv6');
    }
    this.add(extra);
  }

  /** The apiserver's own names (its serving certificate's SANs, its endpoint addresses). */
  add(names: string[]): void {
    for (const n of names) {
      const fam = isIP(n);
      if (fam) this.ips.addAddress(n, fam === 4 ? 'ipv4' : 'ipv6');
      else if (n) this.dns.add(n.toLowerCase());
    }
  }

  isReservedIP(ip: string): boolean {
    const fam = isIP(ip);
    return fam === 0 || this.ips.check(ip, fam === 4 ? 'ipv4' : 'ipv6');
  }

  isReservedDNS(name: string): boolean {
    const n = name.toLowerCase().replace(/\.$/, '');
    return (
      this.dns.has(n) ||
      n.includes('*') ||
      n.endsWith('.localhost') ||
      n.endsWith('.svc') ||
      n.endsWith('.svc.cluster.local') ||
      isIP(n) !== 0
    );
  }

  /** The request's reserved subjectAltNames, in order. */
  reservedIn(req: CertificateRequest): string[] {
    return [...req.dnsNames.filter((d) => this.isReservedDNS(d)), ...req.ipAddresses.filter((ip) => this.isReservedIP(ip))];
  }
}

export interface Facts {
  /** The Node named by the request's CN, when it exists (read live, not from a cache). */
  node?: KObject;
  /** Every other Node, for serving SANs another node already claims. */
  otherNodes: KObject[];
  reserved: ReservedNames;
}

/** The node name a kubelet CSR is for, or undefined. */
export function nodeNameOf(req: CertificateRequest): string | undefined {
  return req.commonName.startsWith(NODE_USER_PREFIX) ? req.commonName.slice(NODE_USER_PREFIX.length) : undefined;
}

/** What decide() needs to know about the cluster for this request (so the controller reads only that). */
export function needsNode(csr: KObject): boolean {
  return csr.spec?.signerName === KUBELET_CLIENT_SIGNER || csr.spec?.signerName === KUBELET_SERVING_SIGNER;
}

function addresses(node: KObject | undefined, types: string[]): string[] {
  const list: unknown = node?.status?.addresses;
  if (!Array.isArray(list)) return [];
  return list.filter((a) => a && types.includes(a.type) && typeof a.address === 'string').map((a) => String(a.address));
}

const DNS_TYPES = ['Hostname', 'InternalDNS', 'ExternalDNS'];
const IP_TYPES = ['InternalIP', 'ExternalIP'];

export function decide(csr: KObject, req: CertificateRequest, facts: Facts): Decision {
  if (isIssued(csr) || isApproved(csr) || isDenied(csr)) return { action: 'none', why: 'already decided' };
  const usages: string[] = Array.isArray(csr.spec?.usages) ? csr.spec.usages.map(String) : [];
  const requestor = requestorOf(csr);
  const signer = csr.spec?.signerName;
  const name = nodeNameOf(req);
  const isSelf = requestor.name === req.commonName && requestor.groups.includes(NODES_GROUP);

  if (signer === KUBELET_CLIENT_SIGNER) {
    if (kubeletClientCSRError(req, usages) !== undefined) return { action: 'none', why: 'not a kubelet client certificate request' };
    if (isSelf) return { action: 'approve', reason: 'AutoApproved', message: 'Auto approving self kubelet client certificate after SubjectAccessReview.' };
    if (!requestor.groups.includes(BOOTSTRAPPERS_GROUP)) return { action: 'none', why: `${requestor.name} may not request node client certificates` };
    if (facts.node) {
      return {
        action: 'deny',
        reason: 'NodeAlreadyRegistered',
        message: `node ${JSON.stringify(name)} is already registered: a bootstrap token cannot obtain its credentials (the node renews its own certificate; to join a new machine under this name, delete the Node first)`,
      };
    }
    return { action: 'approve', reason: 'AutoApproved', message: 'Auto approving kubelet client certificate after SubjectAccessReview.' };
  }

  if (signer === KUBELET_SERVING_SIGNER) {
    const reserved = facts.reserved.reservedIn(req);
    if (reserved.length) {
      return {
        action: 'deny',
        reason: 'ReservedSubjectAltName',
        message: `subjectAltName ${reserved.map((r) => JSON.stringify(r)).join(', ')} is reserved for the apiserver, cluster Services or the local host: a kubelet serving certificate names only its node`,
      };
    }
    if (kubeletServingCSRError(req, usages) !== undefined) return { action: 'none', why: 'not a kubelet serving certificate request' };
    if (!isSelf) return { action: 'none', why: 'only the node itself gets its serving certificate approved automatically' };
    if (!facts.node) return { action: 'none', why: `node ${JSON.stringify(name)} is not registered` };
    const ownDNS = new Set([name!, ...addresses(facts.node, DNS_TYPES)].map((d) => d.toLowerCase()));
    const ownIPs = new Set(addresses(facts.node, IP_TYPES));
    const foreign = [...req.dnsNames.filter((d) => !ownDNS.has(d.toLowerCase())), ...req.ipAddresses.filter((ip) => !ownIPs.has(ip))];
    if (foreign.length) return { action: 'none', why: `subjectAltNames ${foreign.join(', ')} are not addresses of node ${name}` };
    const others = facts.otherNodes.filter((n) => n.metadata?.name !== name);
    const claimed = new Set([...others.map((n) => String(n.metadata?.name ?? '').toLowerCase()), ...others.flatMap((n) => addresses(n, IP_TYPES))]);
    const shared = [...req.dnsNames, ...req.ipAddresses].filter((x) => claimed.has(x.toLowerCase()));
    if (shared.length) return { action: 'none', why: `subjectAltNames ${shared.join(', ')} are claimed by another node` };
    return { action: 'approve', reason: 'AutoApproved', message: "Auto approving kubelet serving certificate: its subjectAltNames are the node's registered name and addresses." };
  }
  return { action: 'none', why: 'signer not handled by the approver' };
}
