// The table of served resources. The apiserver serves exactly what RESOURCES lists.
import type { KObject, ResourceDef, ScaleAccess, TableColumn } from './registry.js';

const nameCol: TableColumn = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 };
const ageCol: TableColumn = { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 };

function basic(
  group: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  extra: Partial<ResourceDef> = {},
): ResourceDef {
  return {
    group,
    version: 'v1',
    kind,
    listKind: kind + 'List',
    plural,
    singular: kind.toLowerCase(),
    namespaced,
    subresources: [],
    defaults: () => {},
    validate: () => [],
    table: {
      columns: [nameCol, ageCol],
      row: (obj: KObject) => [obj.metadata?.name ?? '', ''],
    },
    hasStatus: false,
    ...extra,
  };
}

export const RESOURCES: ResourceDef[] = [
  basic('', 'Namespace', 'namespaces', false, { shortNames: ['ns'], subresources: ['status', 'finalize'], hasStatus: true }),
  basic('', 'Node', 'nodes', false, { shortNames: ['no'], subresources: ['status', 'proxy'], hasStatus: true }),
  basic('', 'Pod', 'pods', true, {
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['status', 'binding', 'log', 'exec', 'attach', 'portforward', 'eviction', 'proxy'],
    hasStatus: true,
  }),
  basic('', 'Service', 'services', true, { shortNames: ['svc'], categories: ['all'], subresources: ['status', 'proxy'], hasStatus: true }),
  basic('', 'Endpoints', 'endpoints', true, { shortNames: ['ep'], listKind: 'EndpointsList', singular: 'endpoints' }),
  basic('', 'ReplicationController', 'replicationcontrollers', true, {
    shortNames: ['rc'], categories: ['all'], subresources: ['status', 'scale'], hasStatus: true,
  }),
  basic('', 'Event', 'events', true, { shortNames: ['ev'] }),
  basic('', 'ConfigMap', 'configmaps', true, { shortNames: ['cm'] }),
  basic('', 'Secret', 'secrets', true),
  basic('', 'ServiceAccount', 'serviceaccounts', true, { shortNames: ['sa'] }),
  basic('apps', 'ReplicaSet', 'replicasets', true, { shortNames: ['rs'], categories: ['all'], subresources: ['status', 'scale'], hasStatus: true }),
  basic('apps', 'Deployment', 'deployments', true, { shortNames: ['deploy'], categories: ['all'], subresources: ['status', 'scale'], hasStatus: true }),
  basic('apps', 'DaemonSet', 'daemonsets', true, { shortNames: ['ds'], categories: ['all'], subresources: ['status'], hasStatus: true }),
  basic('coordination.k8s.io', 'Lease', 'leases', true),
  basic('discovery.k8s.io', 'EndpointSlice', 'endpointslices', true),
];

export function findResource(group: string, version: string, plural: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** Scale subresource access for resources serving 'scale', undefined otherwise. */
export function scaleAccess(def: ResourceDef): ScaleAccess | undefined {
  if (!def.subresources.includes('scale')) return undefined;
  return {
    specReplicasPath: ['spec', 'replicas'],
    statusReplicasPath: ['status', 'replicas'],
    selector: () => '',
  };
}
