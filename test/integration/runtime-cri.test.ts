// The shared runtime suite against a real containerd 1.6 (CRI plugin) started by the test,
// pulling through a local registry configured as its docker.io / registry.k8s.io mirror.
import { join } from 'node:path';
import { it } from 'vitest';
import { createRuntime } from '../../agent/runtime/index.js';
import { writeBridgeConf } from '../../agent/network/cni.js';
import { startContainerd, type ContainerdHandle } from '../helpers/containerd.js';
import { startTestRegistry, uniquePodNet, type TestRegistry } from '../helpers/podnet.js';
import { runtimeSuite } from '../runtime-suite.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('runtime-cri: skipped, needs root to run containerd');

if (isRoot) {
  runtimeSuite('cri', async () => {
    const net = uniquePodNet('k8tc');
    let reg: TestRegistry | undefined;
    let cd: ContainerdHandle | undefined;
    try {
      reg = await startTestRegistry();
      cd = await startContainerd({ registryMirror: reg.url });
      await writeBridgeConf(cd.cniConfDir, { podCIDR: net.podCIDR, bridge: net.bridge, name: net.netName, ipamDataDir: cd.ipamDataDir });
      await net.addForwardRules();
      const runtime = createRuntime({ kind: 'cri', endpoint: cd.endpoint });
      const c = cd;
      const r = reg;
      return {
        runtime,
        podCIDR: net.podCIDR,
        ipamLeaseDir: join(c.ipamDataDir, net.netName),
        reopen: () => createRuntime({ kind: 'cri', endpoint: c.endpoint }),
        async teardown() {
          await runtime.close();
          await c.stop();
          await r.stop();
          await net.cleanup();
        },
      };
    } catch (err) {
      await cd?.stop();
      await reg?.stop();
      await net.cleanup();
      throw err;
    }
  });
} else {
  console.log('skipping the cri runtime suite: it needs root (it starts its own daemon, bridge and rules)');
  it.skipIf(true)('runtime suite (cri) needs root', () => {});
}
