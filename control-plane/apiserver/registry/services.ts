// Services (pkg/registry/core/service): ClusterIPs and NodePorts come from the apiserver's
// allocators, reserved before the write and committed or reverted after it (upstream's
// BeginCreate/BeginUpdate); a deleted Service gives them back; on start the allocators are
// rebuilt from the stored Services.
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { StatusError, invalid } from '../../../api/status.js';
import { AllocationError, type ClusterIPAllocator, type NodePortAllocator } from '../allocators.js';
import { strategy, type Allocation, type Strategy } from './strategy.js';

export interface ServiceAllocators {
  clusterIPs: ClusterIPAllocator;
  nodePorts: NodePortAllocator;
}

export function serviceStrategy(def: ResourceDef, a: ServiceAllocators): Strategy {
  const release = (svc: KObject) => {
    for (const ip of svc.spec?.clusterIPs ?? [svc.spec?.clusterIP]) if (ip && ip !== 'None') a.clusterIPs.release(ip);
    for (const p of svc.spec?.ports ?? []) if (p.nodePort) a.nodePorts.release(p.nodePort);
  };
  return strategy(true, {
    allocate: (obj, old) => allocate(def, a, obj, old),
    afterDelete: release,
  });
}

/** Marks what stored Services hold (the apiserver's start). */
export function restoreAllocations(a: ServiceAllocators, svc: KObject): void {
  for (const ip of svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : [])) if (ip && ip !== 'None') a.clusterIPs.markUsed(ip);
  for (const p of svc.spec?.ports ?? []) if (p.nodePort) a.nodePorts.markUsed(p.nodePort);
}

function allocate(def: ResourceDef, a: ServiceAllocators, obj: KObject, old: KObject | undefined): Allocation {
  const undo: Array<() => void> = [];
  const revert = () => undo.forEach((f) => f());
  const spec = (obj.spec ??= {});
  const type = spec.type ?? 'ClusterIP';
  const oldPorts: number[] = (old?.spec?.ports ?? []).map((p: KObject) => p.nodePort).filter((p: unknown) => typeof p === 'number');
  const kept = new Set<number>();
  try {
    if (type === 'ExternalName') {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    } else if (old && old.spec?.clusterIP) {
      if (spec.clusterIP === undefined || spec.clusterIP === '') spec.clusterIP = old.spec.clusterIP;
      if (spec.clusterIP !== old.spec.clusterIP) {
        throw new AllocationError({
          type: 'FieldValueInvalid',
          field: 'spec.clusterIPs[0]',
          message: `spec.clusterIPs[0]: Invalid value: []string{${JSON.stringify(spec.clusterIP)}}: may not change once set`,
        });
      }
      spec.clusterIPs = old.spec.clusterIPs ?? [spec.clusterIP];
    } else if (spec.clusterIP === 'None') {
      spec.clusterIPs = ['None'];
    } else {
      const requested = spec.clusterIP || spec.clusterIPs?.[0];
      if (requested) {
        a.clusterIPs.allocateSpecific(requested);
        spec.clusterIP = requested;
      } else spec.clusterIP = a.clusterIPs.allocateNext();
      const ip = spec.clusterIP;
      undo.push(() => a.clusterIPs.release(ip));
      spec.clusterIPs = [spec.clusterIP];
    }
    if (type !== 'ExternalName') {
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
      spec.internalTrafficPolicy ??= 'Cluster';
    }
    const wantsNodePorts = type === 'NodePort' || type === 'LoadBalancer';
    (spec.ports ?? []).forEach((p: KObject, i: number) => {
      if (!wantsNodePorts) {
        delete p.nodePort;
        return;
      }
      if (p.nodePort) {
        if (oldPorts.includes(p.nodePort) && !kept.has(p.nodePort)) kept.add(p.nodePort);
        else {
          a.nodePorts.allocateSpecific(p.nodePort, `spec.ports[${i}].nodePort`);
          const np = p.nodePort;
          undo.push(() => a.nodePorts.release(np));
        }
      } else {
        // On update, a port that lost its nodePort in the manifest keeps the old one (as upstream).
        const prev = (old?.spec?.ports ?? []).find((q: KObject) => q.port === p.port && (q.protocol ?? 'TCP') === (p.protocol ?? 'TCP'))?.nodePort;
        if (prev && !kept.has(prev)) {
          p.nodePort = prev;
          kept.add(prev);
        } else {
          p.nodePort = a.nodePorts.allocateNext();
          const np = p.nodePort;
          undo.push(() => a.nodePorts.release(np));
        }
      }
    });
    if (wantsNodePorts) spec.externalTrafficPolicy ??= 'Cluster';
  } catch (err) {
    revert();
    if (err instanceof AllocationError) throw new StatusError(invalid(def.kind, String(obj.metadata?.name ?? ''), [err.fieldError], def.group));
    throw err;
  }
  const freed = oldPorts.filter((p) => !kept.has(p));
  return {
    revert,
    commit: () => {
      for (const p of freed) a.nodePorts.release(p);
    },
  };
}
