// CNI invocation per the CNI spec (https://www.cni.dev/docs/spec/): we exec the plugin
// binaries from Debian's containernetworking-plugins ourselves (the docker runtime needs
// it; containerd's CRI plugin does its own) and write the bridge conflist that both use.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const DEFAULT_CNI_BIN_DIR = '/usr/lib/cni';
export const CNI_VERSION = '1.0.0';

export interface BridgeConfOptions {
  podCIDR: string;
  /** Linux bridge name (max 15 chars). */
  bridge?: string;
  /** Network name; also host-local's default IPAM state dir name. */
  name?: string;
  mtu?: number;
  /** host-local IPAM state dir; default /var/lib/cni/networks. Tests point it at a temp dir. */
  ipamDataDir?: string;
  /** File name inside the conf dir; containerd loads the lexically first one. */
  fileName?: string;
}

export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [k: string]: unknown;
}

export interface CniConfList {
  cniVersion: string;
  name: string;
  plugins: CniPluginConf[];
}

export interface CniIPConfig {
  address: string; // CIDR notation, e.g. 10.244.1.5/24
  gateway?: string;
  interface?: number;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: CniIPConfig[];
  routes?: { dst: string; gw?: string }[];
  dns?: unknown;
}

/** CNI runtimeConfig keys we pass (only to plugins that declare the capability). */
export interface CniRuntimeConfig {
  portMappings?: { hostPort: number; containerPort: number; protocol: string; hostIP?: string }[];
  [k: string]: unknown;
}

export class CniError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly cniCode: number | undefined,
    message: string,
  ) {
    super(`CNI ${command} ${plugin}: ${message}`);
    this.name = 'CniError';
  }
}

/** The pod network: bridge (gateway on the host side, hairpin so a pod reaches itself via a
 * Service) + host-local IPAM over the node's podCIDR + portmap for hostPort. ipMasq stays off:
 * the agent owns masquerading so it can exempt pod-to-pod traffic across nodes. */
export function bridgeConfList(opts: BridgeConfOptions): CniConfList {
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet: opts.podCIDR }]],
    routes: [{ dst: '0.0.0.0/0' }],
  };
  if (opts.ipamDataDir) ipam.dataDir = opts.ipamDataDir;
  const bridge: CniPluginConf = {
    type: 'bridge',
    bridge: opts.bridge ?? 'cni0',
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    ipam,
  };
  if (opts.mtu) bridge.mtu = opts.mtu;
  return {
    cniVersion: CNI_VERSION,
    name: opts.name ?? 'k8ts',
    plugins: [bridge, { type: 'portmap', capabilities: { portMappings: true }, snat: true }],
  };
}

/**
 * Subdirectory of the CNI conf dir holding the same network without portmap. containerd
 * runs every plugin of a conflist on every sandbox, and portmap is a separate Go binary
 * exec'd on each ADD and DEL even with no hostPort (~25-30 ms of a ~60-90 ms CNI ADD on this
 * machine). containerdConfig() makes this the default network and gives the full chain only
 * to the runtime handler K8TS_HOSTPORT_HANDLER, which the CRI runtime picks for pods that
 * have hostPorts. Same bridge, IPAM and network name, so both share one address pool.
 */
export const NO_HOSTPORT_SUBDIR = 'no-hostport';

/** Writes the conflist into `dir` (and its portmap-less twin into dir/no-hostport). */
export async function writeBridgeConf(dir: string, opts: BridgeConfOptions): Promise<{ path: string; confList: CniConfList }> {
  const confList = bridgeConfList(opts);
  const fileName = opts.fileName ?? '10-k8ts.conflist';
  const lean: CniConfList = { ...confList, plugins: confList.plugins.filter((p) => p.type !== 'portmap') };
  // The twin first: containerd reports NetworkReady only once both networks load.
  await mkdir(join(dir, NO_HOSTPORT_SUBDIR), { recursive: true });
  await writeFile(join(dir, NO_HOSTPORT_SUBDIR, fileName), JSON.stringify(lean, null, 2) + '\n');
  const path = join(dir, fileName);
  await writeFile(path, JSON.stringify(confList, null, 2) + '\n');
  return { path, confList };
}

export async function loadConfList(path: string): Promise<CniConfList> {
  return JSON.parse(await readFile(path, 'utf8')) as CniConfList;
}

export interface CniInvokeOptions {
  binDir?: string;
  /** Where ADD results are cached so DEL gets its prevResult (spec >= 0.4.0). */
  cacheDir?: string;
  timeoutMs?: number;
}

const DEFAULT_CACHE_DIR = '/var/lib/cni/k8ts-results';

// Plugins that do nothing unless given one of their capabilities (portmap without
// portMappings passes prevResult through): skipping them saves an exec per pod start.
const CAPABILITY_ONLY = new Set(['portmap', 'bandwidth']);

function idle(plugin: CniPluginConf, rc: CniRuntimeConfig): boolean {
  if (!CAPABILITY_ONLY.has(plugin.type) || !plugin.capabilities) return false;
  return Object.entries(plugin.capabilities).every(([cap, on]) => {
    const v = rc[cap];
    return !on || v === undefined || (Array.isArray(v) && v.length === 0);
  });
}

function cachePath(cacheDir: string, network: string, containerId: string, ifName: string): string {
  return join(cacheDir, `${network}-${containerId}-${ifName}.json`);
}

async function invokePlugin(
  command: 'ADD' | 'DEL' | 'CHECK',
  plugin: CniPluginConf,
  confList: CniConfList,
  netnsPath: string,
  containerId: string,
  ifName: string,
  runtimeConfig: CniRuntimeConfig,
  prevResult: CniResult | undefined,
  opts: CniInvokeOptions,
): Promise<CniResult | undefined> {
  const binDir = opts.binDir ?? DEFAULT_CNI_BIN_DIR;
  const conf: Record<string, unknown> = { ...plugin, cniVersion: confList.cniVersion, name: confList.name };
  // Only the capabilities a plugin declares are handed to it, as the spec says.
  if (plugin.capabilities) {
    const rc: Record<string, unknown> = {};
    for (const [cap, on] of Object.entries(plugin.capabilities)) {
      if (on && runtimeConfig[cap] !== undefined) rc[cap] = runtimeConfig[cap];
    }
    if (Object.keys(rc).length > 0) conf.runtimeConfig = rc;
  }
  if (prevResult) conf.prevResult = prevResult;
  // Loaded on first use: an agent on containerd never runs a plugin itself (RSS).
  const { execa } = await import('execa');
  const res = await execa(join(binDir, plugin.type), [], {
    input: JSON.stringify(conf),
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: netnsPath,
      CNI_IFNAME: ifName,
      CNI_PATH: binDir,
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    },
    extendEnv: false,
    reject: false,
    timeout: opts.timeoutMs ?? 30_000,
  });
  if (res.exitCode !== 0) {
    let msg = (res.stderr || res.stdout || `exit ${res.exitCode}`).trim();
    let code: number | undefined;
    try {
      const err = JSON.parse(res.stdout) as { code?: number; msg?: string; details?: string };
      code = err.code;
      msg = [err.msg, err.details].filter(Boolean).join(': ') || msg;
    } catch {
      /* not a JSON error object */
    }
    throw new CniError(plugin.type, command, code, msg);
  }
  if (command !== 'ADD' || !res.stdout.trim()) return undefined;
  return JSON.parse(res.stdout) as CniResult;
}

/** Runs ADD through the chain and returns the final result (pod IP in `ips[0].address`). */
export async function cniAdd(
  netnsPath: string,
  containerId: string,
  ifName: string,
  confList: CniConfList,
  runtimeConfig: CniRuntimeConfig = {},
  opts: CniInvokeOptions = {},
): Promise<CniResult> {
  let prev: CniResult | undefined;
  const done: CniPluginConf[] = [];
  try {
    for (const plugin of confList.plugins) {
      if (idle(plugin, runtimeConfig)) continue;
      prev = (await invokePlugin('ADD', plugin, confList, netnsPath, containerId, ifName, runtimeConfig, prev, opts)) ?? prev;
      done.push(plugin);
    }
  } catch (err) {
    // A half-set-up chain would leak an IP lease and a veth: undo what succeeded.
    for (const plugin of [...done].reverse()) {
      await invokePlugin('DEL', plugin, confList, netnsPath, containerId, ifName, runtimeConfig, prev, opts).catch(() => {});
    }
    throw err;
  }
  const result = prev ?? { cniVersion: confList.cniVersion };
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  await mkdir(cacheDir, { recursive: true });
  await writeFile(cachePath(cacheDir, confList.name, containerId, ifName), JSON.stringify({ result, runtimeConfig }));
  return result;
}

/** Runs DEL through the chain in reverse. Idempotent: a second DEL, or a DEL after the netns
 * is gone (empty netnsPath), still releases the IP lease and the portmap rules. */
export async function cniDel(
  netnsPath: string,
  containerId: string,
  ifName: string,
  confList: CniConfList,
  runtimeConfig?: CniRuntimeConfig,
  opts: CniInvokeOptions = {},
): Promise<void> {
  const cacheDir = opts.cacheDir ?? DEFAULT_CACHE_DIR;
  const cpath = cachePath(cacheDir, confList.name, containerId, ifName);
  let cached: { result?: CniResult; runtimeConfig?: CniRuntimeConfig } = {};
  try {
    cached = JSON.parse(await readFile(cpath, 'utf8')) as typeof cached;
  } catch {
    /* no cached ADD: DEL without prevResult, plugins tolerate that */
  }
  const rc = runtimeConfig ?? cached.runtimeConfig ?? {};
  let firstErr: unknown;
  for (const plugin of [...confList.plugins].reverse()) {
    if (idle(plugin, rc)) continue;
    try {
      await invokePlugin('DEL', plugin, confList, netnsPath, containerId, ifName, rc, cached.result, opts);
    } catch (err) {
      firstErr ??= err;
    }
  }
  if (firstErr) throw firstErr;
  await rm(cpath, { force: true });
}

/** First IPv4 address (without prefix length) of a CNI result. */
export function podIPFromResult(result: CniResult): string {
  const ip = result.ips?.find((i) => !i.address.includes(':')) ?? result.ips?.[0];
  return ip ? ip.address.split('/')[0]! : '';
}
