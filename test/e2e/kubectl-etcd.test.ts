// The same suite with --etcd-servers against a real etcd 3.4 started for the test.
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';
import { kubectlSuite } from './kubectl-suite.js';

const etcdBin = process.env.ETCD_BIN ?? '/usr/bin/etcd';
if (existsSync(etcdBin)) {
  // --etcd-prefix /k8ts is the CLI default, spelled out so the keys this suite writes are plain to see.
  kubectlSuite('kubectl against the control plane (etcd store)', { etcd: true, extraArgs: ['--etcd-prefix', '/k8ts'] });
} else {
  describe('kubectl against the control plane (etcd store)', () => {
    console.log(`skipping: no etcd binary at ${etcdBin} (install etcd-server)`);
    it.skipIf(true)('needs etcd', () => {});
  });
}
