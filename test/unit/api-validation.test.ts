import { describe, expect, it } from 'vitest';
import { findResource } from '../../api/resources.js';
import { invalid } from '../../api/status.js';
import type { KObject } from '../../api/registry.js';
import type { JsonValue } from '../../api/object.js';

const res = (g: string, p: string) => findResource(g, 'v1', p)!;

/** defaults + validate + Status message, as the apiserver would produce on create. */
function createMessage(group: string, plural: string, obj: KObject): string | undefined {
  const d = res(group, plural);
  const o = JSON.parse(JSON.stringify(obj));
  d.defaults(o);
  const errs = d.validate(o);
  if (errs.length === 0) return undefined;
  return invalid(d.kind, o.metadata?.name ?? '', errs, d.group).body.message;
}

function messages(group: string, plural: string, obj: KObject, old?: KObject): string[] {
  const d = res(group, plural);
  const o = JSON.parse(JSON.stringify(obj));
  d.defaults(o);
  let oo: KObject | undefined;
  if (old) {
    oo = JSON.parse(JSON.stringify(old));
    d.defaults(oo!);
  }
  return d.validate(o, oo).map((e) => e.message);
}

const tmpl = (labels: Record<string, string>) => ({
  metadata: { labels },
  spec: { containers: [{ name: 'c', image: 'nginx:1.25' }] },
});

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

describe('ReplicationController', () => {
  const rc = (spec: object): KObject => ({ metadata: { name: 'frontend', namespace: 'default' }, spec });

  it('accepts the guestbook-style RC', () => {
    expect(createMessage('', 'replicationcontrollers', rc({ replicas: 3, template: tmpl({ name: 'frontend' }) }))).toBeUndefined();
  });

  it('negative replicas', () => {
    expect(createMessage('', 'replicationcontrollers', rc({ replicas: -1, template: tmpl({ app: 'x' }) }))).toBe(
      'ReplicationController "frontend" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    );
  });

  it('selector not matching template labels', () => {
    expect(messages('', 'replicationcontrollers', rc({ selector: { app: 'a' }, template: tmpl({ app: 'b' }) }))).toEqual([
      'spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match template `labels`',
    ]);
  });

  it('template restartPolicy must be Always', () => {
    const t: JsonValue = tmpl({ app: 'a' });
    t.spec.restartPolicy = 'OnFailure';
    expect(messages('', 'replicationcontrollers', rc({ template: t }))).toEqual([
      'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
    ]);
  });

  it('missing template and selector', () => {
    expect(messages('', 'replicationcontrollers', rc({}))).toEqual(['spec.selector: Required value', 'spec.template: Required value']);
  });

  it('multiple causes are bracketed', () => {
    expect(createMessage('', 'replicationcontrollers', { metadata: { name: 'Bad_Name', namespace: 'default' }, spec: { replicas: -2, template: tmpl({ a: 'b' }) } })).toBe(
      `ReplicationController "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name": ${SUBDOMAIN_MSG}, spec.replicas: Invalid value: -2: must be greater than or equal to 0]`,
    );
  });
});

describe('object meta', () => {
  it('name required, namespace names are DNS labels, services DNS-1035', () => {
    expect(messages('', 'configmaps', { metadata: { namespace: 'default' } })).toEqual(['metadata.name: Required value: name or generateName is required']);
    expect(messages('', 'namespaces', { metadata: { name: 'a.b' } })).toEqual(['metadata.name: Invalid value: "a.b": must not contain dots']);
    expect(messages('', 'namespaces', { metadata: { name: 'A' } })).toEqual([`metadata.name: Invalid value: "A": ${LABEL_MSG}`]);
    expect(messages('', 'services', { metadata: { name: '1abc', namespace: 'default' }, spec: { ports: [{ port: 80 }] } })).toEqual([
      `metadata.name: Invalid value: "1abc": ${DNS1035_MSG}`,
    ]);
    expect(messages('', 'configmaps', { metadata: { name: 'a'.repeat(254), namespace: 'default' } })[0]).toBe(
      `metadata.name: Invalid value: "${'a'.repeat(254)}": must be no more than 253 characters`,
    );
  });

  it('label keys and values', () => {
    const out = messages('', 'configmaps', { metadata: { name: 'c', namespace: 'default', labels: { 'bad key': 'v', ok: 'bad value!' } } });
    expect(out).toEqual([
      "metadata.labels: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
      "metadata.labels: Invalid value: \"bad value!\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    ]);
  });

  it('name and namespace are immutable', () => {
    const old = { metadata: { name: 'c', namespace: 'default' } };
    expect(messages('', 'configmaps', { metadata: { name: 'd', namespace: 'default' } }, old)).toEqual(['metadata.name: Invalid value: "d": field is immutable']);
  });
});

describe('Pod', () => {
  const pod = (spec: object): KObject => ({ metadata: { name: 'p', namespace: 'default' }, spec });

  it('containers required, image required, names unique DNS labels', () => {
    expect(messages('', 'pods', pod({ containers: [] }))).toEqual(['spec.containers: Required value']);
    expect(
      messages('', 'pods', pod({ containers: [{ name: 'a', image: '' }, { name: 'a', image: 'x' }, { name: 'B', image: 'x' }] })),
    ).toEqual(['spec.containers[0].image: Required value', 'spec.containers[1].name: Duplicate value: "a"', `spec.containers[2].name: Invalid value: "B": ${LABEL_MSG}`]);
  });

  it('ports range, protocols, restartPolicy, quantities', () => {
    expect(
      messages(
        '',
        'pods',
        pod({
          restartPolicy: 'Sometimes',
          containers: [
            {
              name: 'a',
              image: 'x',
              ports: [{ containerPort: 70000 }, { containerPort: 80, protocol: 'ICMP' }],
              resources: { requests: { cpu: '2' }, limits: { cpu: '1', memory: 'lots' } },
            },
          ],
        }),
      ),
    ).toEqual([
      'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
      'spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
      `spec.containers[0].resources.limits[memory]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
      'spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1',
      // Requests default to limits, so the bad memory limit shows up twice, as upstream.
      `spec.containers[0].resources.requests[memory]: Invalid value: "lots": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ]);
  });

  it('update: image change allowed, other spec changes forbidden with upstream text', () => {
    const old = pod({ containers: [{ name: 'a', image: 'nginx:1' }] });
    expect(messages('', 'pods', pod({ containers: [{ name: 'a', image: 'nginx:2' }] }), old)).toEqual([]);
    const out = messages('', 'pods', pod({ containers: [{ name: 'a', image: 'nginx:1', ports: [{ containerPort: 80 }] }] }), old);
    expect(out).toHaveLength(1);
    expect(out[0]!.startsWith(
      'spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n',
    )).toBe(true);
    // Adding a toleration is allowed.
    const withTol = pod({ containers: [{ name: 'a', image: 'nginx:1' }], tolerations: [{ key: 'k', operator: 'Exists' }] });
    expect(messages('', 'pods', withTol, old)).toEqual([]);
    // Labels may change.
    expect(messages('', 'pods', { ...old, metadata: { name: 'p', namespace: 'default', labels: { a: 'b' } } }, old)).toEqual([]);
  });
});

describe('apps', () => {
  const dep = (spec: object): KObject => ({ metadata: { name: 'web', namespace: 'default' }, spec });

  it('deployment selector mismatch and required', () => {
    expect(createMessage('apps', 'deployments', dep({ selector: { matchLabels: { app: 'a' } }, template: tmpl({ app: 'b' }) }))).toBe(
      'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match template `labels`',
    );
    expect(messages('apps', 'deployments', dep({ template: tmpl({ app: 'b' }) }))).toEqual(['spec.selector: Required value']);
    expect(messages('apps', 'deployments', dep({ selector: {}, template: tmpl({ app: 'b' }) }))).toEqual([
      'spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{},MatchExpressions:[]LabelSelectorRequirement{},}: empty selector is invalid for deployment',
    ]);
  });

  it('deployment selector is immutable', () => {
    const old = dep({ selector: { matchLabels: { app: 'a' } }, template: tmpl({ app: 'a', v: '1' }) });
    const upd = dep({ selector: { matchLabels: { app: 'a', v: '1' } }, template: tmpl({ app: 'a', v: '1' }) });
    expect(messages('apps', 'deployments', upd, old)).toEqual([
      'spec.selector: Invalid value: &LabelSelector{MatchLabels:map[string]string{app: a,v: 1,},MatchExpressions:[]LabelSelectorRequirement{},}: field is immutable',
    ]);
  });

  it('strategy checks and negative replicas', () => {
    expect(
      messages('apps', 'deployments', dep({ replicas: -1, selector: { matchLabels: { app: 'a' } }, template: tmpl({ app: 'a' }), strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } })),
    ).toEqual([
      'spec.replicas: Invalid value: -1: must be greater than or equal to 0',
      'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0',
    ]);
    expect(messages('apps', 'deployments', dep({ selector: { matchLabels: { app: 'a' } }, template: tmpl({ app: 'a' }), strategy: { type: 'Recreate', rollingUpdate: {} } }))).toEqual([
      "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
    ]);
  });

  it('replicaset and daemonset', () => {
    expect(messages('apps', 'replicasets', { metadata: { name: 'r', namespace: 'default' }, spec: { selector: { matchLabels: { a: 'b' } }, template: tmpl({ a: 'b' }) } })).toEqual([]);
    expect(messages('apps', 'daemonsets', { metadata: { name: 'd', namespace: 'default' }, spec: { selector: { matchLabels: { a: 'b' } }, template: tmpl({ a: 'c' }) } })).toEqual([
      'spec.template.metadata.labels: Invalid value: map[string]string{"a":"c"}: `selector` does not match template `labels`',
    ]);
  });
});

describe('Service', () => {
  const svc = (spec: object): KObject => ({ metadata: { name: 'frontend', namespace: 'default' }, spec });

  it('accepts the guestbook NodePort service', () => {
    expect(messages('', 'services', svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 30001 }], selector: { name: 'frontend' } }))).toEqual([]);
  });

  it('ports required unless headless or ExternalName', () => {
    expect(messages('', 'services', svc({}))).toEqual(['spec.ports: Required value']);
    expect(messages('', 'services', svc({ clusterIP: 'None' }))).toEqual([]);
    expect(messages('', 'services', svc({ type: 'ExternalName', externalName: 'db.example.com' }))).toEqual([]);
    expect(messages('', 'services', svc({ type: 'ExternalName' }))).toEqual(['spec.externalName: Required value']);
  });

  it('nodePort forbidden for ClusterIP, duplicates, port names, type', () => {
    expect(messages('', 'services', svc({ ports: [{ port: 80, nodePort: 30001 }] }))).toEqual([
      "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    ]);
    expect(messages('', 'services', svc({ ports: [{ name: 'a', port: 80 }, { name: 'a', port: 0 }, { port: 80 }] }))).toEqual([
      'spec.ports[1].name: Duplicate value: "a"',
      'spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive',
      // targetPort defaults to port, so it is invalid too.
      'spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive',
      'spec.ports[2].name: Required value',
      'spec.ports[2]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}',
    ]);
    expect(messages('', 'services', svc({ type: 'Magic', ports: [{ port: 80 }] }))).toContain(
      'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    );
  });

  it('clusterIP may not change once set', () => {
    const old = svc({ clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ port: 80 }] });
    expect(messages('', 'services', svc({ clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'], ports: [{ port: 80 }] }), old)).toEqual([
      'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set',
    ]);
  });
});

describe('other kinds', () => {
  it('configmap keys and immutability', () => {
    expect(messages('', 'configmaps', { metadata: { name: 'c', namespace: 'default' }, data: { 'bad key': 'x', '.ok': 'y' } })).toEqual([
      "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    ]);
    const old = { metadata: { name: 'c', namespace: 'default' }, immutable: true, data: { a: '1' } };
    expect(messages('', 'configmaps', { ...old, data: { a: '2' } }, old)).toEqual(['data: Forbidden: field is immutable when `immutable` is set']);
  });

  it('secret type is immutable and typed secrets need their keys', () => {
    const old = { metadata: { name: 's', namespace: 'default' }, type: 'Opaque', data: {} };
    expect(messages('', 'secrets', { ...old, type: 'kubernetes.io/tls', data: { 'tls.crt': 'YQ==', 'tls.key': 'YQ==' } }, old)).toEqual([
      'type: Invalid value: "kubernetes.io/tls": field is immutable',
    ]);
    expect(messages('', 'secrets', { metadata: { name: 's', namespace: 'default' }, type: 'kubernetes.io/tls', data: {} })).toEqual([
      'data[tls.crt]: Required value',
      'data[tls.key]: Required value',
    ]);
  });

  it('lease duration, endpointslice address type, node taints', () => {
    expect(messages('coordination.k8s.io', 'leases', { metadata: { name: 'n1', namespace: 'kube-node-lease' }, spec: { leaseDurationSeconds: 0 } })).toEqual([
      'spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0',
    ]);
    expect(messages('discovery.k8s.io', 'endpointslices', { metadata: { name: 'e', namespace: 'default' }, addressType: 'IPX', endpoints: [{ addresses: [] }] })).toEqual([
      'addressType: Unsupported value: "IPX": supported values: "FQDN", "IPv4", "IPv6"',
      'endpoints[0].addresses: Required value: must contain at least 1 address',
    ]);
    expect(messages('', 'nodes', { metadata: { name: 'node-1' }, spec: { taints: [{ key: 'k', effect: 'Sometimes' }] } })).toEqual([
      'spec.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule"',
    ]);
    expect(messages('', 'nodes', { metadata: { name: 'node-1', namespace: 'x' } })).toEqual(['metadata.namespace: Forbidden: not allowed on this type']);
  });

  it('never throws on garbage input', () => {
    for (const d of [
      'pods', 'services', 'replicationcontrollers', 'nodes', 'namespaces', 'configmaps', 'secrets', 'endpoints', 'events', 'serviceaccounts',
    ]) {
      const def = res('', d);
      for (const junk of [{}, { metadata: 5, spec: 'x' }, { spec: { containers: 'x', ports: [null, 5], template: 3 }, data: [1] }]) {
        const o = JSON.parse(JSON.stringify(junk));
        expect(() => {
          def.defaults(o);
          def.validate(o);
          def.validate(o, o);
          def.table.row(o, new Date());
        }).not.toThrow();
      }
    }
  });
});

describe('events', () => {
  it('namespace must match the involved object (legacy events)', () => {
    const ev = (ns: string, ioNs?: string) => ({ metadata: { name: 'e.1', namespace: ns }, involvedObject: { kind: 'Pod', name: 'p', namespace: ioNs }, reason: 'X' });
    expect(messages('', 'events', ev('default', 'default'))).toEqual([]);
    expect(messages('', 'events', ev('default'))).toEqual([]);
    expect(messages('', 'events', ev('kube-system', 'default'))).toEqual(['involvedObject.namespace: Invalid value: "default": does not match event.namespace']);
    expect(messages('', 'events', ev('dev'))).toEqual(['involvedObject.namespace: Invalid value: "": does not match event.namespace']);
  });
});

describe('pod updates against pods stored before a default existed', () => {
  it('a status-style update of an undefaulted stored pod is not a spec change', () => {
    const d = findResource('', 'v1', 'pods')!;
    const stored: KObject = { metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'a', image: 'x' }] } };
    const next = JSON.parse(JSON.stringify(stored));
    d.defaults(next);
    next.status = { phase: 'Running' };
    expect(d.validate(next, stored)).toEqual([]);
  });
});

describe('finalizers', () => {
  it('standard or domain-qualified names only', () => {
    const cm = (finalizers: string[]) => ({ metadata: { name: 'c', namespace: 'default', finalizers } });
    expect(messages('', 'configmaps', cm(['kubernetes', 'foregroundDeletion', 'example.com/x']))).toEqual([]);
    expect(messages('', 'configmaps', cm(['mine']))).toEqual([
      'metadata.finalizers: Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified',
    ]);
  });
});

describe('finalizer conflicts', () => {
  it('orphan and foregroundDeletion cannot both be set', () => {
    expect(messages('', 'configmaps', { metadata: { name: 'c', namespace: 'default', finalizers: ['orphan', 'foregroundDeletion'] } })).toEqual([
      'metadata.finalizers: Invalid value: []string{"orphan", "foregroundDeletion"}: finalizer orphan and foregroundDeletion cannot be both set',
    ]);
  });
});

describe('finalizers during deletion', () => {
  it('no new finalizers once deletionTimestamp is set on the stored object', () => {
    const old = { metadata: { name: 'c', namespace: 'default', deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: ['a.io/x'] } };
    expect(messages('', 'configmaps', { metadata: { ...old.metadata, finalizers: ['a.io/x', 'b.io/y'] } }, old)).toEqual([
      'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"b.io/y"}',
    ]);
    // The delete itself (old without deletionTimestamp) may add foregroundDeletion.
    const live = { metadata: { name: 'c', namespace: 'default' } };
    expect(messages('', 'configmaps', { metadata: { ...live.metadata, deletionTimestamp: '2024-01-01T00:00:00Z', finalizers: ['foregroundDeletion'] } }, live)).toEqual([]);
  });
});

describe('container port names', () => {
  it('unique per container, may repeat across containers', () => {
    const pod = (containers: object[]) => ({ metadata: { name: 'p', namespace: 'default' }, spec: { containers } });
    expect(messages('', 'pods', pod([
      { name: 'a', image: 'x', ports: [{ name: 'metrics', containerPort: 9090 }] },
      { name: 'b', image: 'x', ports: [{ name: 'metrics', containerPort: 9091 }] },
    ]))).toEqual([]);
    expect(messages('', 'pods', pod([{ name: 'a', image: 'x', ports: [{ name: 'http', containerPort: 80 }, { name: 'http', containerPort: 81 }, { name: 'Bad', containerPort: 82 }] }]))).toEqual([
      'spec.containers[0].ports[1].name: Duplicate value: "http"',
      'spec.containers[0].ports[2].name: Invalid value: "Bad": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
    ]);
  });
});

describe('node port range', () => {
  it('is not validation\'s to check: JsonValue nodePort passes, the allocator owns --service-node-port-range', () => {
    for (const nodePort of [80, 20050, 30001, 40000]) {
      const svc = { metadata: { name: 's', namespace: 'default' }, spec: { type: 'NodePort', sessionAffinity: 'None', ports: [{ port: 80, protocol: 'TCP', nodePort }] } };
      expect(messages('', 'services', svc)).toEqual([]);
    }
  });
});
