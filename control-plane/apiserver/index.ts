// The control plane entry point other components hook into. Today it runs the apiserver;
// the scheduler and controllers are started here too once they exist (they talk to the
// apiserver through `url` with the admin kubeconfig, like any other client).
import { startApiServer, type ApiServer, type ApiServerOptions } from './server.js';

export type { ApiServer, ApiServerOptions } from './server.js';
export { startApiServer } from './server.js';
export { ensurePki, type ClusterPki, type KeyPairPem } from './pki.js';
export { renderKubeconfig, adminKubeconfig } from './kubeconfig.js';

export interface ControlPlaneOptions extends ApiServerOptions {
  /** Extra components started after the apiserver is ready (scheduler, controllers...). */
  components?: Array<(cp: ControlPlane) => Promise<{ stop(): Promise<void> | void }>>;
}

export interface ControlPlane {
  url: string;
  caPem: string;
  adminKubeconfig: string; // path
  /** the scheduler's and controller manager's own kubeconfigs (paths) */
  schedulerKubeconfig: string;
  controllerManagerKubeconfig: string;
  /** <data-dir>/pki: the cluster CA (ca.crt, ca.key) the CSR signer uses */
  pkiDir: string;
  joinToken: string;
  apiserver: ApiServer;
  /** Resolves when the apiserver serves requests and every component has started. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const apiserver = await startApiServer(opts);
  const stops: Array<() => Promise<void> | void> = [];
  const cp: ControlPlane = {
    url: apiserver.url,
    caPem: apiserver.caPem,
    adminKubeconfig: apiserver.adminKubeconfigPath,
    schedulerKubeconfig: apiserver.schedulerKubeconfigPath,
    controllerManagerKubeconfig: apiserver.controllerManagerKubeconfigPath,
    pkiDir: apiserver.pki.dir,
    joinToken: apiserver.joinToken,
    apiserver,
    ready: Promise.resolve(),
    async stop() {
      for (const s of stops.reverse()) await s();
      await apiserver.stop();
    },
  };
  cp.ready = (async () => {
    for (const start of opts.components ?? []) {
      const c = await start(cp);
      stops.push(() => c.stop());
    }
  })();
  return cp;
}
