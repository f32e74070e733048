// One leader-election candidate as its own process, for test/integration/client.test.ts:
//   node --import tsx test/helpers/leader-candidate.ts KUBECONFIG LEASE IDENTITY LEASE_MS
// prints "leading <identity>" when it holds the Lease and "stopped <identity>" when it lost it.
import { Client, loadClientConfig, startLeaderElection } from '../../client/index.js';

const [kubeconfig, lease, identity, leaseMs] = process.argv.slice(2);
if (!kubeconfig || !lease || !identity || !leaseMs) {
  process.stderr.write('usage: leader-candidate.ts KUBECONFIG LEASE IDENTITY LEASE_MS\n');
  process.exit(2);
}
const duration = Number(leaseMs);
const client = new Client(loadClientConfig({ kubeconfig }));
const elector = startLeaderElection({
  client,
  name: lease,
  namespace: 'kube-system',
  identity,
  leaseDurationMs: duration,
  renewDeadlineMs: Math.floor((duration * 2) / 3),
  retryPeriodMs: Math.max(100, Math.floor(duration / 10)),
  onStartedLeading: () => void process.stdout.write(`leading ${identity}\n`),
  onStoppedLeading: () => void process.stdout.write(`stopped ${identity}\n`),
});
process.on('SIGTERM', () => void elector.stop().then(() => process.exit(0)));
