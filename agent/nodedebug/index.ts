// Node-level debugging (`k8ts node …`): the runtime, the pod log files, the kernel's rules
// and the kubelet's journal, read directly on the node, no apiserver needed.
export * from './errors.js';
export * from './table.js';
export * from './target.js';
export * from './views.js';
export * from './logs.js';
export * from './net.js';
export * from './service.js';
export * from './events.js';
