// Nodes (pkg/registry/core/node): a kubelet registers its Node with its status, so a create
// keeps the status it was given (everything else with a status starts without one).
import { strategy, type Strategy } from './strategy.js';

export const nodeStrategy: Strategy = strategy(true, { prepareForCreate() {} });
