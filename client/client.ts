// The API client every component uses: one Transport, and a typed ResourceClient for each
// kind in client/kinds.ts (client.pods, client.nodes, client.leases ...), plus discovery
// and ResourceClients for kinds found at run time (the garbage collector, namespace deletion).
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.js';
import type { Namespace, Pod } from 'kubernetes-types/core/v1.js';
import type { ClientConfig } from './config.js';
import { KINDS, type KindName, type KindTypes, type KubeObject, type ResourceInfo } from './kinds.js';
import { ResourceClient } from './resource.js';
import { Transport } from './transport.js';

export interface Binding {
  apiVersion?: 'v1';
  kind?: 'Binding';
  metadata: { name: string; namespace?: string; uid?: string };
  target: { apiVersion?: string; kind: 'Node'; name: string };
}

export class PodClient extends ResourceClient<Pod> {
  /** pods/binding: what the scheduler posts to put a pod on a node. */
  bind(name: string, nodeName: string, uid?: string): Promise<unknown> {
    const b: Binding = {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name, ...(this.ns ? { namespace: this.ns } : {}), ...(uid ? { uid } : {}) },
      target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
    };
    return this.postSubresource(name, 'binding', b);
  }
}

export class NamespaceClient extends ResourceClient<Namespace> {
  /** namespaces/finalize: the only way to change spec.finalizers. */
  finalize(ns: Namespace): Promise<Namespace> {
    return this.putSubresource<Namespace>(ns, 'finalize');
  }
}

export class CertificateSigningRequestClient extends ResourceClient<CertificateSigningRequest> {
  /** certificatesigningrequests/approval: where Approved and Denied conditions are written. */
  updateApproval(csr: CertificateSigningRequest): Promise<CertificateSigningRequest> {
    return this.putSubresource<CertificateSigningRequest>(csr, 'approval');
  }
}

const SPECIAL = { pods: PodClient, namespaces: NamespaceClient, certificatesigningrequests: CertificateSigningRequestClient };
type Special = typeof SPECIAL;

type Typed = {
  [K in KindName]: K extends keyof Special ? InstanceType<Special[K]> : ResourceClient<KindTypes[K]>;
};

export interface APIResource {
  name: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  group?: string;
  version?: string;
}

class ClientBase {
  readonly transport: Transport;

  constructor(readonly config: ClientConfig) {
    this.transport = new Transport(config);
    const self = this as unknown as Record<string, unknown>;
    for (const k of Object.keys(KINDS) as KindName[]) {
      const C = (SPECIAL as Partial<Record<KindName, typeof ResourceClient>>)[k] ?? ResourceClient;
      self[k] = new C(this.transport, KINDS[k]);
    }
  }

  /** A ResourceClient for a kind known only at run time (from discovery). */
  resource<T extends KubeObject = KubeObject>(info: ResourceInfo): ResourceClient<T> {
    return new ResourceClient<T>(this.transport, info);
  }

  /** Discovery: the core versions (/api), the groups (/apis), a group version's resources. */
  readonly discovery = {
    coreVersions: async (): Promise<string[]> => (await this.transport.request<{ versions?: string[] }>('GET', '/api')).versions ?? [],
    groups: async (): Promise<Array<{ name: string; preferredVersion?: { groupVersion: string }; versions?: Array<{ groupVersion: string }> }>> =>
      (await this.transport.request<{ groups?: [] }>('GET', '/apis')).groups ?? [],
    resources: async (groupVersion: string): Promise<APIResource[]> => {
      const path = groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
      return (await this.transport.request<{ resources?: APIResource[] }>('GET', path)).resources ?? [];
    },
  };

  close(): void {
    this.transport.close();
  }
}

/** The client: ClientBase plus one typed member per kind, filled in by the constructor from KINDS. */
export type Client = ClientBase & Typed;
export const Client = ClientBase as new (config: ClientConfig) => Client;
