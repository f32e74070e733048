// k8ts's client-go: everything a component needs to talk to the apiserver.
export { CertificateSigningRequestClient, Client, NamespaceClient, PodClient, type APIResource } from './client.js';
export {
  type ClientConfig,
  ConfigError,
  type LoadedConfig,
  type LoadOptions,
  kubeconfigFiles,
  loadClientConfig,
  mergeKubeconfigs,
  SERVICE_ACCOUNT_DIR,
  tryInClusterConfig,
} from './config.js';
export * from './errors.js';
export { EventCorrelator, EventRecorder, referenceTo, type EventSource, type EventType } from './events.js';
export {
  type EventHandlers,
  type HandlerRegistration,
  type IndexFunc,
  Indexer,
  InformerFactory,
  type InformerScope,
  NAMESPACE_INDEX,
  objectKey,
  SharedIndexInformer,
  splitKey,
} from './informer.js';
export { apiVersionOf, KINDS, type KindName, type KindTypes, type KubeObject, resourcePath, type ResourceInfo } from './kinds.js';
export { defaultIdentity, runWhileLeader, startLeaderElection, type LeaderElector, type LeaderRun } from './leaderelection.js';
export {
  type DeleteOptions,
  type ListerWatcher,
  type ListOptions,
  type ObjectList,
  type PatchType,
  ResourceClient,
  type WatchOptions,
} from './resource.js';
export { type RequestOptions, Transport, type WatchEvent, type WatchStream } from './transport.js';
export { ExponentialBackoff, type RateLimiter, runWorkers, WorkQueue } from './workqueue.js';
