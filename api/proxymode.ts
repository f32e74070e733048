// kube-proxy's --proxy-mode values: one definition for the agent, `k8ts proxy`, `k8ts up` and
// `k8ts node service`.
export const PROXY_MODES = ['iptables', 'nftables', 'ipvs'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

export function isProxyMode(v: unknown): v is ProxyMode {
  return typeof v === 'string' && (PROXY_MODES as readonly string[]).includes(v);
}
