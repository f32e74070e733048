// The Pod Security Standards' checks and policy resolution (api/podsecurity.ts), table-driven
// against upstream's texts: each check alone at baseline and restricted, versions, the
// order and format of the aggregated message, and the namespace labels.
import { describe, expect, it } from 'vitest';
import { evaluatePod, forbiddenDetail, LATEST, policyToEvaluate, parseVersion, type Level, type LevelVersion } from '../../api/podsecurity.js';
import type { JsonObject } from '../../api/object.js';

/** A pod that passes restricted: the base every case changes one thing of. */
function restrictedPod(): JsonObject {
  return {
    metadata: { name: 'p' },
    spec: {
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'c', image: 'x', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
    },
  };
}

const at = (level: Level, minor?: number): LevelVersion => ({ level, version: minor === undefined ? LATEST : { minor } });
const detail = (pod: JsonObject, lv: LevelVersion) => {
  const r = evaluatePod(lv, pod.metadata, pod.spec);
  return r.allowed ? '' : forbiddenDetail(r);
};

type Case = [string, (p: JsonObject) => void, string, string?];

// [what, change to the restricted pod, baseline's verdict ('' = allowed), restricted's verdict (default: baseline's)]
const CASES: Case[] = [
  ['passes both', () => {}, ''],
  ['privileged', (p) => (p.spec.containers[0].securityContext.privileged = true), 'privileged (container "c" must not set securityContext.privileged=true)'],
  ['hostNetwork, hostPID, hostIPC', (p) => Object.assign(p.spec, { hostNetwork: true, hostPID: true, hostIPC: true }), 'host namespaces (hostNetwork=true, hostPID=true, hostIPC=true)'],
  [
    'hostPath volume',
    (p) => (p.spec.volumes = [{ name: 'h', hostPath: { path: '/' } }, { name: 'e', emptyDir: {} }]),
    'hostPath volumes (volume "h")',
    'restricted volume types (volume "h" uses restricted volume type "hostPath")',
  ],
  [
    'host ports on two containers',
    (p) => {
      p.spec.containers[0].ports = [{ containerPort: 80, hostPort: 8080 }];
      p.spec.containers.push({ ...structuredClone(p.spec.containers[0]), name: 'd', ports: [{ containerPort: 81, hostPort: 10000 }] });
    },
    'hostPort (containers "c", "d" use hostPorts 10000, 8080)',
  ],
  [
    'added capabilities',
    (p) => (p.spec.containers[0].securityContext.capabilities.add = ['NET_ADMIN', 'CHOWN']),
    'non-default capabilities (container "c" must not include "NET_ADMIN" in securityContext.capabilities.add)',
    'unrestricted capabilities (container "c" must not include "CHOWN", "NET_ADMIN" in securityContext.capabilities.add)',
  ],
  ['NET_BIND_SERVICE is allowed in both', (p) => (p.spec.containers[0].securityContext.capabilities.add = ['NET_BIND_SERVICE']), ''],
  ['procMount Unmasked', (p) => (p.spec.containers[0].securityContext.procMount = 'Unmasked'), 'procMount (container "c" must not set securityContext.procMount to "Unmasked")'],
  [
    'seLinuxOptions type and user',
    (p) => (p.spec.securityContext.seLinuxOptions = { type: 'spc_t', user: 'root' }),
    'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)',
  ],
  ['seccomp Unconfined', (p) => (p.spec.securityContext.seccompProfile = { type: 'Unconfined' }), 'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")'],
  ['unsafe sysctl', (p) => (p.spec.securityContext.sysctls = [{ name: 'kernel.msgmax', value: '1' }, { name: 'net.ipv4.tcp_syncookies', value: '1' }]), 'forbidden sysctls (kernel.msgmax)'],
  ['hostProcess', (p) => (p.spec.containers[0].securityContext.windowsOptions = { hostProcess: true }), 'hostProcess (container "c" must not set securityContext.windowsOptions.hostProcess=true)'],
  [
    'AppArmor unconfined annotation',
    (p) => (p.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/c': 'unconfined' }),
    'forbidden AppArmor profile (annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/c="unconfined"")',
  ],
  ['allowPrivilegeEscalation unset', (p) => delete p.spec.containers[0].securityContext.allowPrivilegeEscalation, '', 'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)'],
  ['no drop ALL', (p) => delete p.spec.containers[0].securityContext.capabilities, '', 'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"])'],
  ['runAsNonRoot unset', (p) => delete p.spec.securityContext.runAsNonRoot, '', 'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true)'],
  ['runAsNonRoot false on the container', (p) => (p.spec.containers[0].securityContext.runAsNonRoot = false), '', 'runAsNonRoot != true (container "c" must not set securityContext.runAsNonRoot=false)'],
  ['runAsUser 0', (p) => (p.spec.securityContext.runAsUser = 0), '', 'runAsUser=0 (pod must not set runAsUser=0)'],
  [
    'seccomp unset',
    (p) => delete p.spec.securityContext.seccompProfile,
    '',
    'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
  ],
  ['nfs volume', (p) => (p.spec.volumes = [{ name: 'n', nfs: { server: 's', path: '/' } }]), '', 'restricted volume types (volume "n" uses restricted volume type "nfs")'],
  ['configMap, secret, projected volumes', (p) => (p.spec.volumes = [{ name: 'a', configMap: { name: 'x' } }, { name: 'b', secret: { secretName: 'y' } }, { name: 'c', projected: { sources: [] } }]), ''],
];

describe('Pod Security Standards checks', () => {
  it.each(CASES)('%s', (_what, change, baseline, restricted = baseline) => {
    const pod = restrictedPod();
    change(pod);
    expect(detail(pod, at('baseline'))).toBe(baseline);
    expect(detail(pod, at('restricted'))).toBe(restricted);
    expect(evaluatePod(at('privileged'), pod.metadata, pod.spec).allowed).toBe(true);
  });

  it('aggregates baseline checks before restricted ones, each group by check ID, as upstream words them', () => {
    const pod = { metadata: { name: 'x' }, spec: { containers: [{ name: 'c', image: 'busybox', securityContext: { privileged: true } }] } };
    expect(detail(pod, at('restricted'))).toBe(
      'privileged (container "c" must not set securityContext.privileged=true), ' +
        'allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ' +
        'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ' +
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ' +
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    );
  });

  it('visits init, regular and ephemeral containers and pluralizes', () => {
    const pod = {
      spec: {
        initContainers: [{ name: 'i', securityContext: { privileged: true } }],
        containers: [{ name: 'c', securityContext: { privileged: true } }],
        ephemeralContainers: [{ name: 'e', securityContext: { privileged: true } }],
      },
    };
    expect(detail(pod, at('baseline'))).toBe('privileged (containers "i", "c", "e" must not set securityContext.privileged=true)');
  });

  it('evaluates a version as of its checks: older policies lack newer checks, newer ones act as the newest', () => {
    const pod = restrictedPod();
    delete pod.spec.containers[0].securityContext.allowPrivilegeEscalation;
    pod.spec.securityContext.runAsUser = 0;
    // allowPrivilegeEscalation since v1.8, runAsUser=0 since v1.23
    expect(detail(pod, at('restricted', 7))).toBe('');
    expect(detail(pod, at('restricted', 22))).toBe('allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false)');
    expect(detail(pod, at('restricted', 99))).toBe(detail(pod, at('restricted')));
    // sysctls allowed from v1.32 only
    const s = restrictedPod();
    s.spec.securityContext.sysctls = [{ name: 'net.ipv4.tcp_rmem', value: '1' }];
    expect(detail(s, at('baseline', 31))).toBe('forbidden sysctls (net.ipv4.tcp_rmem)');
    expect(detail(s, at('baseline', 32))).toBe('');
    // windows pods skip the Linux-only restricted checks from v1.25
    const w = { spec: { os: { name: 'windows' }, securityContext: { runAsNonRoot: true }, containers: [{ name: 'c' }] } };
    expect(detail(w, at('restricted', 25))).toBe('');
    expect(detail(w, at('restricted', 24))).not.toBe('');
  });

  it('parses versions as upstream', () => {
    expect(parseVersion('v1.25')).toEqual({ version: { minor: 25 } });
    expect(parseVersion('latest')).toEqual({ version: LATEST });
    for (const bad of ['1.25', 'v1.025', 'v2.0', 'v1.', '']) expect(parseVersion(bad).error).toBe('must be "latest" or "v1.x"');
  });
});

describe('namespace labels -> policy', () => {
  it('defaults to privileged; warn follows a stricter enforce unless set', () => {
    expect(policyToEvaluate({}).policy.enforce.level).toBe('privileged');
    const p = policyToEvaluate({ 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/enforce-version': 'v1.30' }).policy;
    expect(p.warn).toEqual({ level: 'baseline', version: { minor: 30 } });
    expect(p.audit.level).toBe('privileged');
    const q = policyToEvaluate({ 'pod-security.kubernetes.io/enforce': 'baseline', 'pod-security.kubernetes.io/warn': 'privileged' }).policy;
    expect(q.warn.level).toBe('privileged');
  });

  it('reports bad labels with upstream messages; enforce fails closed, warn and audit open', () => {
    const { policy, errors } = policyToEvaluate({
      'pod-security.kubernetes.io/enforce': 'strict',
      'pod-security.kubernetes.io/warn': 'nope',
      'pod-security.kubernetes.io/audit-version': '1.2',
    });
    expect(errors.map((e) => e.message)).toEqual([
      'metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted',
      'metadata.labels[pod-security.kubernetes.io/audit-version]: Invalid value: "1.2": must be "latest" or "v1.x"',
      'metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "nope": must be one of privileged, baseline, restricted',
    ]);
    expect(policy.enforce.level).toBe('restricted');
    expect(policy.warn.level).toBe('privileged');
    expect(policy.audit.level).toBe('privileged');
  });
});
