// The real kubectl v1.32 and @kubernetes/client-node against `k8ts control-plane` on the
// embedded (SQLite) store.
import { kubectlSuite } from './kubectl-suite.js';

kubectlSuite('kubectl against the control plane (embedded store)', { etcd: false });
