// Test-only pod network plumbing shared by the runtime tests and bench/runtime.ts: a local
// registry with our images (the docker.io / registry.k8s.io mirror), a unique bridge name and
// podCIDR per run, and FORWARD accept rules for that bridge (Docker's install may have set
// FORWARD to DROP with bridge netfilter on). Everything is removed by cleanup().
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { pushImage, startRegistry, type RegistryHandle } from '../../images/registry.js';
import { freePort } from './containerd.js';

export interface TestPodNet {
  bridge: string;
  podCIDR: string;
  netName: string;
  addForwardRules(): Promise<void>;
  cleanup(): Promise<void>;
}

export function uniquePodNet(prefix: string): TestPodNet {
  const tag = Math.random().toString(16).slice(2, 7);
  const bridge = `${prefix}${tag}`.slice(0, 15);
  const podCIDR = `10.250.${10 + Math.floor(Math.random() * 240)}.0/24`;
  const netName = `k8ts-test-${tag}`;
  const rules = [
    ['FORWARD', '-i', bridge, '-j', 'ACCEPT', '-m', 'comment', '--comment', `k8ts-test ${bridge}`],
    ['FORWARD', '-o', bridge, '-j', 'ACCEPT', '-m', 'comment', '--comment', `k8ts-test ${bridge}`],
  ];
  return {
    bridge,
    podCIDR,
    netName,
    async addForwardRules() {
      for (const r of rules) await execa('iptables', ['-w', '-I', ...r]);
    },
    async cleanup() {
      for (const r of rules) await execa('iptables', ['-w', '-D', ...r], { reject: false });
      await execa('ip', ['link', 'del', bridge], { reject: false });
      await removeIdlePortmapChains();
    },
  };
}

/**
 * portmap leaves its shared top-level chains behind on purpose. Remove them once no pod on
 * this machine uses a hostPort any more (portmap re-creates them on its next ADD).
 */
export async function removeIdlePortmapChains(): Promise<void> {
  const dnat = await execa('iptables', ['-w', '-t', 'nat', '-S', 'CNI-HOSTPORT-DNAT'], { reject: false });
  if (dnat.exitCode !== 0 || dnat.stdout.split('\n').some((l) => l.startsWith('-A '))) return;
  const nat = (args: string[]) => execa('iptables', ['-w', '-t', 'nat', ...args], { reject: false });
  await nat(['-D', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']);
  await nat(['-D', 'OUTPUT', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'CNI-HOSTPORT-DNAT']);
  await nat(['-D', 'POSTROUTING', '-m', 'comment', '--comment', 'CNI portfwd requiring masquerade', '-j', 'CNI-HOSTPORT-MASQ']);
  for (const chain of ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']) {
    await nat(['-F', chain]);
    await nat(['-X', chain]);
  }
}

export interface TestRegistry {
  registry: RegistryHandle;
  /** http://127.0.0.1:port */
  url: string;
  stop(): Promise<void>;
}

/** A docker-registry on a free loopback port with the pause and busybox images pushed. */
export async function startTestRegistry(images: string[] = ['pause', 'busybox']): Promise<TestRegistry> {
  const dataDir = await mkdtemp(join(tmpdir(), 'k8ts-rtreg-'));
  const port = await freePort();
  const registry = await startRegistry({ dataDir, listen: `127.0.0.1:${port}` });
  try {
    for (const img of images) await pushImage(img, registry.hostPort);
  } catch (err) {
    await registry.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    registry,
    url: registry.url,
    async stop() {
      await registry.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
