// The API objects a pod's spec names: Secrets, ConfigMaps, PersistentVolumeClaims and its
// ServiceAccount. The same walk as upstream's podutil.VisitPodSecretNames /
// VisitPodConfigmapNames (every container kind, imagePullSecrets, every volume source that
// carries a secret reference), so the node authorizer grants a kubelet exactly what its pods
// name and NodeRestriction can refuse mirror pods that name anything.
import { hasOwn, isPlainObject } from './object.js';
import type { KObject } from './registry.js';

export interface PodRefs {
  secrets: string[];
  configMaps: string[];
  claims: string[];
  serviceAccount?: string;
}

const MIRROR = 'kubernetes.io/config.mirror';

export function isMirrorPod(pod: KObject): boolean {
  const a = pod.metadata?.annotations;
  return isPlainObject(a) && hasOwn(a, MIRROR);
}

function list(v: unknown): KObject[] {
  return Array.isArray(v) ? v.filter((x): x is KObject => !!x && typeof x === 'object') : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

// Volume sources whose secret is named at <source>.secretRef.name (upstream's list).
const SECRET_REF_VOLUMES = ['cephfs', 'cinder', 'flexVolume', 'rbd', 'scaleIO', 'iscsi', 'storageos'];

export function podRefs(pod: KObject): PodRefs {
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  const claims = new Set<string>();
  const add = (set: Set<string>, v: unknown) => {
    const s = str(v);
    if (s) set.add(s);
  };
  const spec: KObject = pod.spec && typeof pod.spec === 'object' ? pod.spec : {};
  for (const s of list(spec.imagePullSecrets)) add(secrets, s.name);
  for (const c of [...list(spec.initContainers), ...list(spec.containers), ...list(spec.ephemeralContainers)]) {
    for (const f of list(c.envFrom)) {
      add(secrets, f.secretRef?.name);
      add(configMaps, f.configMapRef?.name);
    }
    for (const e of list(c.env)) {
      add(secrets, e.valueFrom?.secretKeyRef?.name);
      add(configMaps, e.valueFrom?.configMapKeyRef?.name);
    }
  }
  const podName = str(pod.metadata?.name);
  for (const v of list(spec.volumes)) {
    add(secrets, v.secret?.secretName);
    add(secrets, v.azureFile?.secretName);
    add(secrets, v.csi?.nodePublishSecretRef?.name);
    for (const k of SECRET_REF_VOLUMES) add(secrets, v[k]?.secretRef?.name);
    add(configMaps, v.configMap?.name);
    for (const src of list(v.projected?.sources)) {
      add(secrets, src.secret?.name);
      add(configMaps, src.configMap?.name);
    }
    add(claims, v.persistentVolumeClaim?.claimName);
    // A generic ephemeral volume's claim is named <pod>-<volume> (upstream's VolumeClaimName).
    if (v.ephemeral && podName && str(v.name)) claims.add(`${podName}-${v.name}`);
  }
  return { secrets: [...secrets], configMaps: [...configMaps], claims: [...claims], serviceAccount: str(spec.serviceAccountName) };
}
