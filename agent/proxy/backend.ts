// The contract every kube-proxy backend (iptables.ts, nftables.ts, ipvs.ts) meets: the
// proxier (proxier.ts) hands it the whole desired model and the keys that changed, and the
// backend makes the kernel match, as upstream's proxy.Provider / syncProxyRules.
import type { ProxyModel } from './model.js';

export interface SyncStats {
  full: boolean;
  ruleCount: number;
  renderMs: number;
  applyMs: number;
  bytes: number;
}

export interface ProxyBackend {
  readonly mode: 'iptables' | 'nftables' | 'ipvs';
  /** Applies the model; `changed` = service port keys that may differ, or 'all' for a full sync. */
  sync(model: ProxyModel, changed: Set<string> | 'all'): Promise<SyncStats>;
  /** Removes everything this backend ever wrote. */
  cleanup(): Promise<void>;
}
