// Upstream's bootstrap RBAC policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy: policy.go,
// controller_policy.go, namespace_policy.go) as of v1.32: the ClusterRoles and bindings every
// cluster starts with, the controllers' roles (system:controller:*, bound to their service
// accounts in kube-system) and the roles in kube-system and kube-public. The apiserver
// reconciles them at every start (reconcile.ts). Controller roles are those of the controllers
// k8ts runs. Two k8ts additions, marked below: kube-proxy runs in the agent with its node's
// identity, so system:node-proxier is also bound to the group system:nodes; and the
// controller manager acts as each controller's service account (controllers/index.ts), so it
// may impersonate those service accounts.
import { AUTOUPDATE_ANNOTATION, RBAC_GROUP, type PolicyRule, type Subject } from '../../../api/rbac.js';
import type { KObject } from '../../../api/registry.js';

const READ = ['get', 'list', 'watch'];
const READ_WRITE = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update'];

const AGGREGATE_TO_ADMIN = 'rbac.authorization.k8s.io/aggregate-to-admin';
const AGGREGATE_TO_EDIT = 'rbac.authorization.k8s.io/aggregate-to-edit';
const AGGREGATE_TO_VIEW = 'rbac.authorization.k8s.io/aggregate-to-view';

function r(verbs: string[], apiGroups: string[], resources: string[], resourceNames?: string[]): PolicyRule {
  return resourceNames ? { apiGroups, resources, resourceNames, verbs } : { apiGroups, resources, verbs };
}

function urls(verbs: string[], nonResourceURLs: string[]): PolicyRule {
  return { nonResourceURLs, verbs };
}

const events = (): PolicyRule => r(['create', 'patch', 'update'], ['', 'events.k8s.io'], ['events']);

const user = (name: string): Subject => ({ apiGroup: RBAC_GROUP, kind: 'User', name });
const group = (name: string): Subject => ({ apiGroup: RBAC_GROUP, kind: 'Group', name });
const sa = (namespace: string, name: string): Subject => ({ kind: 'ServiceAccount', name, namespace });

function metadata(name: string, namespace?: string, labels: Record<string, string> = {}): KObject {
  return {
    name,
    ...(namespace ? { namespace } : {}),
    labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', ...labels },
    annotations: { [AUTOUPDATE_ANNOTATION]: 'true' },
  };
}

function clusterRole(name: string, rules: PolicyRule[], o: { labels?: Record<string, string>; aggregateFrom?: string } = {}): KObject {
  const role: KObject = { apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRole', metadata: metadata(name, undefined, o.labels) };
  if (o.aggregateFrom) role.aggregationRule = { clusterRoleSelectors: [{ matchLabels: { [o.aggregateFrom]: 'true' } }] };
  else role.rules = rules;
  return role;
}

function clusterRoleBinding(name: string, subjects: Subject[], role = name): KObject {
  const b: KObject = { apiVersion: `${RBAC_GROUP}/v1`, kind: 'ClusterRoleBinding', metadata: metadata(name), roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: role } };
  if (subjects.length) b.subjects = subjects;
  return b;
}

function role(namespace: string, name: string, rules: PolicyRule[]): KObject {
  return { apiVersion: `${RBAC_GROUP}/v1`, kind: 'Role', metadata: metadata(name, namespace), rules };
}

function roleBinding(namespace: string, name: string, subjects: Subject[], roleName = name): KObject {
  return { apiVersion: `${RBAC_GROUP}/v1`, kind: 'RoleBinding', metadata: metadata(name, namespace), roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: roleName }, subjects };
}

/** upstream's NodeRules(): what a kubelet may do (the Node authorizer grants them, authz/node.ts). */
export const NODE_RULES: PolicyRule[] = [
  r(['create'], ['authentication.k8s.io'], ['tokenreviews']),
  r(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews', 'subjectaccessreviews']),
  r(READ, [''], ['services']),
  r(['create', 'get', 'list', 'watch'], [''], ['nodes']),
  r(['patch', 'update'], [''], ['nodes/status']),
  r(['patch', 'update'], [''], ['nodes']),
  r(['create', 'patch', 'update'], [''], ['events']),
  r(READ, [''], ['pods']),
  r(['create', 'delete'], [''], ['pods']),
  r(['patch', 'update'], [''], ['pods/status']),
  r(['create'], [''], ['pods/eviction']),
  r(READ, [''], ['configmaps', 'secrets']),
  r(['get'], [''], ['persistentvolumeclaims', 'persistentvolumes']),
  r(['get'], [''], ['endpoints']),
  r(['create', 'get', 'list', 'watch'], ['certificates.k8s.io'], ['certificatesigningrequests']),
  r(['create', 'delete', 'get', 'patch', 'update'], ['coordination.k8s.io'], ['leases']),
  r(['get'], ['storage.k8s.io'], ['volumeattachments']),
  r(['create'], [''], ['serviceaccounts/token']),
  r(['get', 'patch', 'update'], [''], ['persistentvolumeclaims/status']),
  r(READ, ['storage.k8s.io'], ['csidrivers']),
  r(['create', 'delete', 'get', 'patch', 'update'], ['storage.k8s.io'], ['csinodes']),
  r(READ, ['node.k8s.io'], ['runtimeclasses']),
];

function clusterRoles(): KObject[] {
  return [
    clusterRole('admin', [], { aggregateFrom: AGGREGATE_TO_ADMIN }),
    clusterRole('cluster-admin', [r(['*'], ['*'], ['*']), urls(['*'], ['*'])]),
    clusterRole('edit', [], { labels: { [AGGREGATE_TO_ADMIN]: 'true' }, aggregateFrom: AGGREGATE_TO_EDIT }),
    clusterRole('system:aggregate-to-admin', [r(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']), r(READ_WRITE, [RBAC_GROUP], ['rolebindings', 'roles'])], { labels: { [AGGREGATE_TO_ADMIN]: 'true' } }),
    clusterRole(
      'system:aggregate-to-edit',
      [
        r(READ, [''], ['pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'secrets', 'services/proxy']),
        r(['impersonate'], [''], ['serviceaccounts']),
        r(WRITE, [''], ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy']),
        r(['create'], [''], ['pods/eviction']),
        r(WRITE, [''], ['configmaps', 'events', 'persistentvolumeclaims', 'replicationcontrollers', 'replicationcontrollers/scale', 'secrets', 'serviceaccounts', 'services', 'services/proxy']),
        r(['create'], [''], ['serviceaccounts/token']),
        r(WRITE, ['apps'], ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'replicasets', 'replicasets/scale', 'statefulsets', 'statefulsets/scale']),
        r(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
        r(WRITE, ['batch'], ['cronjobs', 'jobs']),
        r(WRITE, ['extensions'], ['daemonsets', 'deployments', 'deployments/rollback', 'deployments/scale', 'ingresses', 'networkpolicies', 'replicasets', 'replicasets/scale', 'replicationcontrollers/scale']),
        r(WRITE, ['policy'], ['poddisruptionbudgets']),
        r(WRITE, ['networking.k8s.io'], ['ingresses', 'networkpolicies']),
      ],
      { labels: { [AGGREGATE_TO_EDIT]: 'true' } },
    ),
    clusterRole(
      'system:aggregate-to-view',
      [
        r(READ, [''], ['configmaps', 'endpoints', 'persistentvolumeclaims', 'persistentvolumeclaims/status', 'pods', 'replicationcontrollers', 'replicationcontrollers/scale', 'serviceaccounts', 'services', 'services/status']),
        r(READ, [''], ['bindings', 'events', 'limitranges', 'namespaces/status', 'pods/log', 'pods/status', 'replicationcontrollers/status', 'resourcequotas', 'resourcequotas/status']),
        r(READ, [''], ['namespaces']),
        r(READ, ['discovery.k8s.io'], ['endpointslices']),
        r(READ, ['apps'], ['controllerrevisions', 'daemonsets', 'daemonsets/status', 'deployments', 'deployments/scale', 'deployments/status', 'replicasets', 'replicasets/scale', 'replicasets/status', 'statefulsets', 'statefulsets/scale', 'statefulsets/status']),
        r(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
        r(READ, ['batch'], ['cronjobs', 'cronjobs/status', 'jobs', 'jobs/status']),
        r(READ, ['extensions'], ['daemonsets', 'daemonsets/status', 'deployments', 'deployments/scale', 'deployments/status', 'ingresses', 'ingresses/status', 'networkpolicies', 'replicasets', 'replicasets/scale', 'replicasets/status', 'replicationcontrollers/scale']),
        r(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
        r(READ, ['networking.k8s.io'], ['ingresses', 'ingresses/status', 'networkpolicies']),
      ],
      { labels: { [AGGREGATE_TO_VIEW]: 'true' } },
    ),
    clusterRole('system:auth-delegator', [r(['create'], ['authentication.k8s.io'], ['tokenreviews']), r(['create'], ['authorization.k8s.io'], ['subjectaccessreviews'])]),
    clusterRole('system:basic-user', [r(['create'], ['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']), r(['create'], ['authentication.k8s.io'], ['selfsubjectreviews'])]),
    clusterRole('system:certificates.k8s.io:certificatesigningrequests:nodeclient', [r(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/nodeclient'])]),
    clusterRole('system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', [r(['create'], ['certificates.k8s.io'], ['certificatesigningrequests/selfnodeclient'])]),
    clusterRole('system:certificates.k8s.io:kube-apiserver-client-approver', [r(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kube-apiserver-client'])]),
    clusterRole('system:certificates.k8s.io:kube-apiserver-client-kubelet-approver', [r(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kube-apiserver-client-kubelet'])]),
    clusterRole('system:certificates.k8s.io:kubelet-serving-approver', [r(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kubelet-serving'])]),
    clusterRole('system:certificates.k8s.io:legacy-unknown-approver', [r(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/legacy-unknown'])]),
    clusterRole('system:discovery', [urls(['get'], ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'])]),
    clusterRole('system:heapster', [r(READ, [''], ['events', 'namespaces', 'nodes', 'pods']), r(READ, ['extensions'], ['deployments'])]),
    clusterRole('system:kube-aggregator', [r(READ, [''], ['endpoints', 'services'])]),
    clusterRole('system:kube-controller-manager', [
      events(),
      r(['create'], ['coordination.k8s.io'], ['leases']),
      r(['get', 'update'], ['coordination.k8s.io'], ['leases'], ['kube-controller-manager']),
      r(['create'], [''], ['secrets', 'serviceaccounts']),
      r(['delete'], [''], ['secrets']),
      r(['get'], [''], ['configmaps', 'namespaces', 'secrets', 'serviceaccounts']),
      r(['update'], [''], ['secrets', 'serviceaccounts']),
      r(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      r(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
      r(['list', 'watch'], ['*'], ['*']),
      r(['create'], [''], ['serviceaccounts/token']),
    ]),
    clusterRole('system:kube-dns', [r(['list', 'watch'], [''], ['endpoints', 'services'])]),
    clusterRole('system:kube-scheduler', [
      events(),
      r(['create'], ['coordination.k8s.io'], ['leases']),
      r(['get', 'update'], ['coordination.k8s.io'], ['leases'], ['kube-scheduler']),
      r(READ, [''], ['nodes']),
      r(['delete', 'get', 'list', 'watch'], [''], ['pods']),
      r(['create'], [''], ['bindings', 'pods/binding']),
      r(['patch', 'update'], [''], ['pods/status']),
      r(READ, [''], ['replicationcontrollers', 'services']),
      r(READ, ['apps', 'extensions'], ['replicasets']),
      r(READ, ['apps'], ['statefulsets']),
      r(READ, ['policy'], ['poddisruptionbudgets']),
      r(READ, [''], ['persistentvolumeclaims', 'persistentvolumes']),
      r(['create'], ['authentication.k8s.io'], ['tokenreviews']),
      r(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
      r(READ, ['storage.k8s.io'], ['csinodes']),
      r(READ, [''], ['namespaces']),
      r(READ, ['storage.k8s.io'], ['csidrivers']),
      r(READ, ['storage.k8s.io'], ['csistoragecapacities']),
    ]),
    clusterRole('system:kubelet-api-admin', [r(READ, [''], ['nodes']), r(['proxy'], [''], ['nodes']), r(['*'], [''], ['nodes/log', 'nodes/metrics', 'nodes/proxy', 'nodes/stats'])]),
    clusterRole('system:monitoring', [urls(['get'], ['/healthz', '/healthz/*', '/livez', '/livez/*', '/metrics', '/metrics/slis', '/readyz', '/readyz/*'])]),
    clusterRole('system:node', NODE_RULES),
    clusterRole('system:node-bootstrapper', [r(['create', 'get', 'list', 'watch'], ['certificates.k8s.io'], ['certificatesigningrequests'])]),
    clusterRole('system:node-problem-detector', [r(['get'], [''], ['nodes']), r(['patch'], [''], ['nodes/status']), events()]),
    clusterRole('system:node-proxier', [r(['list', 'watch'], [''], ['endpoints', 'services']), r(READ, [''], ['nodes']), events(), r(['list', 'watch'], ['discovery.k8s.io'], ['endpointslices'])]),
    clusterRole('system:persistent-volume-provisioner', [
      r(['create', 'delete', 'get', 'list', 'watch'], [''], ['persistentvolumes']),
      r(['get', 'list', 'update', 'watch'], [''], ['persistentvolumeclaims']),
      r(READ, ['storage.k8s.io'], ['storageclasses']),
      r(['watch'], [''], ['events']),
      events(),
    ]),
    clusterRole('system:public-info-viewer', [urls(['get'], ['/healthz', '/livez', '/readyz', '/version', '/version/'])]),
    clusterRole('system:service-account-issuer-discovery', [urls(['get'], ['/.well-known/openid-configuration', '/openid/v1/jwks'])]),
    clusterRole('system:volume-scheduler', [r(['get', 'list', 'patch', 'update', 'watch'], [''], ['persistentvolumes']), r(READ, ['storage.k8s.io'], ['storageclasses']), r(['get', 'list', 'patch', 'update', 'watch'], [''], ['persistentvolumeclaims'])]),
    clusterRole('view', [], { labels: { [AGGREGATE_TO_EDIT]: 'true' }, aggregateFrom: AGGREGATE_TO_VIEW }),
  ];
}

function clusterRoleBindings(): KObject[] {
  return [
    clusterRoleBinding('cluster-admin', [group('system:masters')]),
    clusterRoleBinding('system:monitoring', [group('system:monitoring')]),
    clusterRoleBinding('system:discovery', [group('system:authenticated')]),
    clusterRoleBinding('system:basic-user', [group('system:authenticated')]),
    clusterRoleBinding('system:public-info-viewer', [group('system:authenticated'), group('system:unauthenticated')]),
    // k8ts: kube-proxy runs in the agent as its node (system:node:<name>, group system:nodes).
    clusterRoleBinding('system:node-proxier', [user('system:kube-proxy'), group('system:nodes')]),
    clusterRoleBinding('system:kube-controller-manager', [user('system:kube-controller-manager')]),
    clusterRoleBinding('system:kube-dns', [sa('kube-system', 'kube-dns')]),
    clusterRoleBinding('system:kube-scheduler', [user('system:kube-scheduler')]),
    clusterRoleBinding('system:volume-scheduler', [user('system:kube-scheduler')]),
    // Kept without subjects since the Node authorizer took over (upstream's deprecation).
    clusterRoleBinding('system:node', []),
    clusterRoleBinding('system:service-account-issuer-discovery', [group('system:serviceaccounts')]),
  ];
}

const CONTROLLER_PREFIX = 'system:controller:';

/** The controllers' roles, each bound to the service account kube-system/<name without the prefix>. */
function controllerRoles(): KObject[] {
  return [
    clusterRole(`${CONTROLLER_PREFIX}certificate-controller`, [
      r(['delete', 'get', 'list', 'watch'], ['certificates.k8s.io'], ['certificatesigningrequests']),
      r(['update'], ['certificates.k8s.io'], ['certificatesigningrequests/approval', 'certificatesigningrequests/status']),
      r(['approve'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kube-apiserver-client-kubelet']),
      r(['sign'], ['certificates.k8s.io'], ['signers'], ['kubernetes.io/kube-apiserver-client', 'kubernetes.io/kube-apiserver-client-kubelet', 'kubernetes.io/kubelet-serving', 'kubernetes.io/legacy-unknown']),
      r(['create'], ['authorization.k8s.io'], ['subjectaccessreviews']),
      events(),
    ]),
    clusterRole(`${CONTROLLER_PREFIX}clusterrole-aggregation-controller`, [r(['escalate', 'get', 'list', 'patch', 'update', 'watch'], [RBAC_GROUP], ['clusterroles'])]),
    clusterRole(`${CONTROLLER_PREFIX}daemon-set-controller`, [
      r(READ, ['apps', 'extensions'], ['daemonsets']),
      r(['update'], ['apps', 'extensions'], ['daemonsets/status']),
      r(['update'], ['apps', 'extensions'], ['daemonsets/finalizers']),
      r(['list', 'watch'], [''], ['nodes']),
      r(['create', 'delete', 'list', 'patch', 'watch'], [''], ['pods']),
      r(['create'], [''], ['pods/binding']),
      r(['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], ['apps'], ['controllerrevisions']),
      events(),
    ]),
    clusterRole(`${CONTROLLER_PREFIX}deployment-controller`, [
      r(['get', 'list', 'update', 'watch'], ['apps', 'extensions'], ['deployments']),
      r(['update'], ['apps', 'extensions'], ['deployments/status']),
      r(['update'], ['apps', 'extensions'], ['deployments/finalizers']),
      r(['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], ['apps', 'extensions'], ['replicasets']),
      r(['get', 'list', 'update', 'watch'], [''], ['pods']),
      events(),
    ]),
    clusterRole(`${CONTROLLER_PREFIX}endpoint-controller`, [
      r(READ, [''], ['pods', 'services']),
      r(['create', 'delete', 'get', 'list', 'update', 'watch'], [''], ['endpoints']),
      r(['create'], [''], ['endpoints/restricted']),
      events(),
    ]),
    clusterRole(`${CONTROLLER_PREFIX}endpointslice-controller`, [
      r(READ, [''], ['nodes', 'pods', 'services']),
      r(['update'], [''], ['services/finalizers']),
      r(['create', 'delete', 'get', 'list', 'update', 'watch'], ['discovery.k8s.io'], ['endpointslices']),
      events(),
    ]),
    clusterRole(`${CONTROLLER_PREFIX}endpointslicemirroring-controller`, [
      r(READ, [''], ['endpoints', 'services']),
      r(['update'], [''], ['services/finalizers']),
      r(['update'], [''], ['endpoints/finalizers']),
      r(['create', 'delete', 'get', 'list', 'update', 'watch'], ['discovery.k8s.io'], ['endpointslices']),
      events(),
    ]),
    clusterRole(`${CONTROLLER_PREFIX}generic-garbage-collector`, [r(['delete', 'get', 'list', 'patch', 'update', 'watch'], ['*'], ['*']), events()]),
    clusterRole(`${CONTROLLER_PREFIX}namespace-controller`, [
      r(['delete', 'get', 'list', 'watch'], [''], ['namespaces']),
      r(['update'], [''], ['namespaces/finalize', 'namespaces/status']),
      r(['delete', 'deletecollection', 'get', 'list', 'watch'], ['*'], ['*']),
    ]),
    clusterRole(`${CONTROLLER_PREFIX}node-controller`, [
      r(['delete', 'get', 'list', 'patch', 'update', 'watch'], [''], ['nodes']),
      r(['patch', 'update'], [''], ['nodes/status']),
      r(['patch', 'update'], [''], ['pods/status']),
      r(['delete', 'get', 'list', 'watch'], [''], ['pods']),
      events(),
    ]),
    clusterRole(`${CONTROLLER_PREFIX}pod-garbage-collector`, [r(['delete', 'list', 'watch'], [''], ['pods']), r(READ, [''], ['nodes']), r(['patch'], [''], ['pods/status'])]),
    clusterRole(`${CONTROLLER_PREFIX}replicaset-controller`, [
      r(['get', 'list', 'update', 'watch'], ['apps', 'extensions'], ['replicasets']),
      r(['update'], ['apps', 'extensions'], ['replicasets/status']),
      r(['update'], ['apps', 'extensions'], ['replicasets/finalizers']),
      r(['create', 'delete', 'list', 'patch', 'watch'], [''], ['pods']),
      events(),
    ]),
    clusterRole(`${CONTROLLER_PREFIX}replication-controller`, [
      r(['get', 'list', 'update', 'watch'], [''], ['replicationcontrollers']),
      r(['update'], [''], ['replicationcontrollers/status']),
      r(['update'], [''], ['replicationcontrollers/finalizers']),
      r(['create', 'delete', 'list', 'patch', 'watch'], [''], ['pods']),
      events(),
    ]),
    // Quota counts anything a quota may name, so it may list and watch everything.
    clusterRole(`${CONTROLLER_PREFIX}resourcequota-controller`, [r(['list', 'watch'], ['*'], ['*']), r(['update'], [''], ['resourcequotas/status']), events()]),
    clusterRole(`${CONTROLLER_PREFIX}root-ca-cert-publisher`, [r(['create', 'update'], [''], ['configmaps']), events()]),
    clusterRole(`${CONTROLLER_PREFIX}service-account-controller`, [r(['create'], [''], ['serviceaccounts']), events()]),
  ];
}

function controllerRoleBindings(roles: KObject[]): KObject[] {
  return roles.map((x) => {
    const name = String(x.metadata!.name);
    return clusterRoleBinding(name, [sa('kube-system', name.slice(CONTROLLER_PREFIX.length))]);
  });
}

/** The service accounts of kube-system the controller manager acts as (k8ts; see controllers/index.ts). */
export const CONTROLLER_SERVICE_ACCOUNTS = [
  'certificate-controller',
  'clusterrole-aggregation-controller',
  'daemon-set-controller',
  'deployment-controller',
  'endpoint-controller',
  'endpointslice-controller',
  'endpointslicemirroring-controller',
  'generic-garbage-collector',
  'namespace-controller',
  'node-controller',
  'pod-garbage-collector',
  'replicaset-controller',
  'replication-controller',
  'resourcequota-controller',
  'root-ca-cert-publisher',
  'service-account-controller',
  'token-cleaner',
];

function namespaceRoles(): KObject[] {
  return [
    role('kube-system', 'extension-apiserver-authentication-reader', [r(READ, [''], ['configmaps'], ['extension-apiserver-authentication'])]),
    role('kube-system', 'system::leader-locking-kube-controller-manager', [r(['watch'], [''], ['configmaps']), r(['get', 'update'], [''], ['configmaps'], ['kube-controller-manager'])]),
    role('kube-system', 'system::leader-locking-kube-scheduler', [r(['watch'], [''], ['configmaps']), r(['get', 'update'], [''], ['configmaps'], ['kube-scheduler'])]),
    role('kube-system', `${CONTROLLER_PREFIX}bootstrap-signer`, [r(READ, [''], ['secrets'])]),
    role('kube-system', `${CONTROLLER_PREFIX}cloud-provider`, [r(['create', 'get', 'list', 'watch'], [''], ['configmaps'])]),
    role('kube-system', `${CONTROLLER_PREFIX}token-cleaner`, [r(['delete', 'get', 'list', 'watch'], [''], ['secrets']), events()]),
    // k8ts: the controller manager acts as its controllers' service accounts.
    role('kube-system', 'system::k8ts:controller-impersonation', [r(['impersonate'], [''], ['serviceaccounts'], CONTROLLER_SERVICE_ACCOUNTS)]),
    role('kube-public', `${CONTROLLER_PREFIX}bootstrap-signer`, [r(READ, [''], ['configmaps']), r(['update'], [''], ['configmaps'], ['cluster-info']), events()]),
  ];
}

function namespaceRoleBindings(): KObject[] {
  return [
    roleBinding('kube-system', 'system::extension-apiserver-authentication-reader', [user('system:kube-controller-manager'), user('system:kube-scheduler')], 'extension-apiserver-authentication-reader'),
    roleBinding('kube-system', 'system::leader-locking-kube-controller-manager', [user('system:kube-controller-manager'), sa('kube-system', 'kube-controller-manager')]),
    roleBinding('kube-system', 'system::leader-locking-kube-scheduler', [user('system:kube-scheduler'), sa('kube-system', 'kube-scheduler')]),
    roleBinding('kube-system', `${CONTROLLER_PREFIX}bootstrap-signer`, [sa('kube-system', 'bootstrap-signer')]),
    roleBinding('kube-system', `${CONTROLLER_PREFIX}cloud-provider`, [sa('kube-system', 'cloud-provider')]),
    roleBinding('kube-system', `${CONTROLLER_PREFIX}token-cleaner`, [sa('kube-system', 'token-cleaner')]),
    roleBinding('kube-system', 'system::k8ts:controller-impersonation', [user('system:kube-controller-manager')]),
    roleBinding('kube-public', `${CONTROLLER_PREFIX}bootstrap-signer`, [sa('kube-system', 'bootstrap-signer')]),
  ];
}

export interface BootstrapPolicy {
  clusterRoles: KObject[];
  clusterRoleBindings: KObject[];
  roles: KObject[];
  roleBindings: KObject[];
}

export function bootstrapPolicy(): BootstrapPolicy {
  const controllers = controllerRoles();
  return {
    clusterRoles: [...clusterRoles(), ...controllers],
    clusterRoleBindings: [...clusterRoleBindings(), ...controllerRoleBindings(controllers)],
    roles: namespaceRoles(),
    roleBindings: namespaceRoleBindings(),
  };
}
