// The Node object this kubelet registers and keeps up to date: capacity/allocatable from
// the machine, addresses, nodeInfo, and the four conditions with upstream's reasons.
import { promises as fsp } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  cpus: number;
  memoryBytes: number;
  ephemeralStorageBytes: number;
  kernelVersion: string;
  osImage: string;
  machineID: string;
  bootID: string;
  systemUUID: string;
  architecture: string;
  hostname: string;
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

async function readTrim(p: string): Promise<string> {
  return (await fsp.readFile(p, 'utf8').catch(() => '')).trim();
}

export async function machineInfo(rootDir: string): Promise<MachineInfo> {
  const osRelease = await readTrim('/etc/os-release');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(osRelease)?.[1] ?? 'Linux';
  let storage = 0;
  try {
    const st = await fsp.statfs(rootDir).catch(() => fsp.statfs('/'));
    storage = Number(st.blocks) * Number(st.bsize);
  } catch {
    /* statfs unsupported: report 0 */
  }
  return {
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    ephemeralStorageBytes: storage,
    kernelVersion: os.release(),
    osImage: pretty,
    machineID: (await readTrim('/etc/machine-id')) || (await readTrim('/var/lib/dbus/machine-id')),
    bootID: await readTrim('/proc/sys/kernel/random/boot_id'),
    systemUUID: (await readTrim('/sys/class/dmi/id/product_uuid')) || (await readTrim('/etc/machine-id')),
    architecture: ARCH[process.arch] ?? process.arch,
    hostname: os.hostname(),
  };
}

export interface NodeConditionsInput {
  runtimeReady: boolean;
  networkReady: boolean;
  runtimeMessage?: string;
  memoryPressure: boolean;
  diskPressure: boolean;
  pidPressure: boolean;
}

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastHeartbeatTime: string;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

function ts(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

export function nodeConditions(input: NodeConditionsInput, prev: NodeCondition[] | undefined, now: Date): NodeCondition[] {
  const mk = (type: string, status: 'True' | 'False', reason: string, message: string): NodeCondition => {
    const old = prev?.find((c) => c.type === type);
    return {
      type,
      status,
      lastHeartbeatTime: ts(now),
      lastTransitionTime: old && old.status === status ? old.lastTransitionTime : ts(now),
      reason,
      message,
    };
  };
  const ready = input.runtimeReady && input.networkReady;
  let notReadyMsg = '';
  if (!input.runtimeReady) notReadyMsg = `container runtime is down${input.runtimeMessage ? ': ' + input.runtimeMessage : ''}`;
  else if (!input.networkReady) notReadyMsg = 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized';
  return [
    input.memoryPressure
      ? mk('MemoryPressure', 'True', 'KubeletHasInsufficientMemory', 'kubelet has insufficient memory available')
      : mk('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    input.diskPressure
      ? mk('DiskPressure', 'True', 'KubeletHasDiskPressure', 'kubelet has disk pressure')
      : mk('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    input.pidPressure
      ? mk('PIDPressure', 'True', 'KubeletHasInsufficientPID', 'kubelet has insufficient PID available')
      : mk('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    ready ? mk('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status') : mk('Ready', 'False', 'KubeletNotReady', notReadyMsg),
  ];
}

export interface NodeStatusInput {
  machine: MachineInfo;
  nodeIP: string;
  runtimeVersion: string; // e.g. containerd://1.6.20
  kubeletVersion: string;
  kubeletPort: number;
  conditions: NodeCondition[];
  images?: { names: string[]; sizeBytes: number }[];
  /** Resources held back from pods (system reserved): memory bytes. */
  reservedMemoryBytes?: number;
}

export function buildNodeStatus(i: NodeStatusInput): Record<string, unknown> {
  const memKi = Math.floor(i.machine.memoryBytes / 1024);
  const allocMemKi = Math.max(0, memKi - Math.floor((i.reservedMemoryBytes ?? 100 * 1024 * 1024) / 1024));
  const capacity = {
    cpu: String(i.machine.cpus),
    memory: `${memKi}Ki`,
    pods: '110',
    'ephemeral-storage': `${Math.floor(i.machine.ephemeralStorageBytes / 1024)}Ki`,
  };
  return {
    capacity,
    allocatable: {
      cpu: String(i.machine.cpus),
      memory: `${allocMemKi}Ki`,
      pods: '110',
      // Upstream reserves 10% for the eviction threshold on nodefs.
      'ephemeral-storage': String(Math.floor(i.machine.ephemeralStorageBytes * 0.9)),
    },
    conditions: i.conditions,
    addresses: [
      { type: 'InternalIP', address: i.nodeIP },
      { type: 'Hostname', address: i.machine.hostname },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: i.kubeletPort } },
    nodeInfo: {
      machineID: i.machine.machineID,
      systemUUID: i.machine.systemUUID,
      bootID: i.machine.bootID,
      kernelVersion: i.machine.kernelVersion,
      osImage: i.machine.osImage,
      containerRuntimeVersion: i.runtimeVersion,
      kubeletVersion: i.kubeletVersion,
      kubeProxyVersion: i.kubeletVersion,
      operatingSystem: 'linux',
      architecture: i.machine.architecture,
    },
    images: i.images ?? [],
  };
}

/** Memory pressure when available memory drops under 100Mi (upstream's default hard eviction). */
export async function pressure(rootDir: string): Promise<{ memory: boolean; disk: boolean; pid: boolean }> {
  const meminfo = await readTrim('/proc/meminfo');
  const avail = Number(/MemAvailable:\s+(\d+)/.exec(meminfo)?.[1] ?? '1e9') * 1024;
  let disk = false;
  try {
    const st = await fsp.statfs(rootDir).catch(() => fsp.statfs('/'));
    disk = Number(st.bavail) / Number(st.blocks) < 0.1;
  } catch {
    /* unknown: no pressure */
  }
  const pidMax = Number(await readTrim('/proc/sys/kernel/pid_max')) || 4194304;
  const threads = Number(/^(\d+)/.exec(await readTrim('/proc/loadavg').then((l) => l.split(' ')[3]?.split('/')[1] ?? '0'))?.[1] ?? 0);
  return { memory: avail < 100 * 1024 * 1024, disk, pid: threads > pidMax * 0.9 };
}
