// The shared runtime suite against a real dockerd started by the test (its own data-root,
// exec-root and socket), pulling through a local registry configured as its Docker Hub
// mirror; the runtime runs CNI itself with the same bridge conflist as containerd.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { createRuntime } from '../../agent/runtime/index.js';
import { writeBridgeConf } from '../../agent/network/cni.js';
import { startDockerd, type DockerdHandle } from '../helpers/dockerd.js';
import { startTestRegistry, uniquePodNet, type TestRegistry } from '../helpers/podnet.js';
import { runtimeSuite } from '../runtime-suite.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('runtime-docker: skipped, needs root to run dockerd');

if (isRoot) {
  runtimeSuite('docker', async () => {
    const net = uniquePodNet('k8td');
    let reg: TestRegistry | undefined;
    let dd: DockerdHandle | undefined;
    const dir = await mkdtemp(join(tmpdir(), 'k8ts-dockerrt-'));
    try {
      reg = await startTestRegistry();
      dd = await startDockerd({ registryMirror: reg.url });
      const cniConfDir = join(dir, 'net.d');
      const ipamDataDir = join(dir, 'ipam');
      await writeBridgeConf(cniConfDir, { podCIDR: net.podCIDR, bridge: net.bridge, name: net.netName, ipamDataDir });
      await net.addForwardRules();
      const open = (endpoint: string) =>
        createRuntime({ kind: 'docker', endpoint, docker: { cniConfDir, stateDir: join(dir, 'state') } });
      const runtime = open(dd.host);
      const d = dd;
      const r = reg;
      return {
        runtime,
        podCIDR: net.podCIDR,
        ipamLeaseDir: join(ipamDataDir, net.netName),
        reopen: () => open(d.host),
        async teardown() {
          // Sandboxes left by failed tests: CNI DEL through the runtime before dockerd goes.
          for (const s of await runtime.listPodSandboxes().catch(() => [])) await runtime.removePodSandbox(s.id).catch(() => {});
          await runtime.close();
          await d.stop();
          await r.stop();
          await net.cleanup();
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      await dd?.stop();
      await reg?.stop();
      await net.cleanup();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  });
} else {
  console.log('skipping the docker runtime suite: it needs root (it starts its own daemon, bridge and rules)');
  it.skipIf(true)('runtime suite (docker) needs root', () => {});
}
