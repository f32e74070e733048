// The contract between the pure API code (api/) and the apiserver (control-plane/apiserver).
// api/resources.ts exports RESOURCES: ResourceDef[]; the apiserver serves whatever is there.

import type { JsonObject } from './object.js';

export type KObject = JsonObject & {
  apiVersion?: string;
  kind?: string;
  metadata?: JsonObject;
};

/** The authenticated user of a request, as upstream's user.Info. */
export interface RequestUser {
  name: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

/** One invalid field, Kubernetes' StatusCause shape: reason FieldValueInvalid etc. */
export interface FieldError {
  type:
    | 'FieldValueInvalid'
    | 'FieldValueRequired'
    | 'FieldValueNotSupported'
    | 'FieldValueDuplicate'
    | 'FieldValueForbidden'
    | 'FieldValueTooLong';
  field: string; // e.g. "spec.replicas"
  message: string; // the full Kubernetes message, e.g. 'spec.replicas: Invalid value: -1: must be greater than or equal to 0'
}

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string; // 'name' for the NAME column
  description: string;
  priority: number; // 0 = always; 1 = only with -o wide
}

export interface ResourceDef {
  group: string; // '' for core
  version: string; // 'v1'
  kind: string; // 'Pod'
  listKind: string; // 'PodList'
  plural: string; // 'pods'
  singular: string; // 'pod'
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[]; // 'all' for pods, services, rc, deployments ...
  /** Subresources served: 'status', 'scale', 'binding', 'log', 'exec', 'attach', 'portforward', 'proxy'. */
  subresources: string[];
  /**
   * The verbs served, when not all of them: the review kinds (SubjectAccessReview ...) are
   * create-only and never stored; their handlers answer from the request alone.
   */
  verbs?: string[];
  /** Fill defaults in place (create and update), as Kubernetes' SetDefaults_* do. */
  defaults(obj: KObject): void;
  /**
   * Validate the whole object; on update `old` is the stored object (immutable fields) and
   * `subresource` the one the write came through, if any.
   */
  validate(obj: KObject, old?: KObject, subresource?: string): FieldError[];
  /** Server-side printing for `kubectl get` (Table). now is for ages. */
  table: { columns: TableColumn[]; row(obj: KObject, now: Date): unknown[] };
  /** Extra field selector keys beyond metadata.name/metadata.namespace. */
  fieldSelectors?: Record<string, (obj: KObject) => string | undefined>;
  /** Whether the status block is reset on create/update of the main resource (as upstream). */
  hasStatus: boolean;
  /**
   * A delete that removes the object at once answers the object (upstream's registry
   * ReturnDeletedObject: pods, services, service accounts, namespaces); otherwise a Success Status.
   */
  returnDeletedObject?: boolean;
}

/** Scale subresource mapping (autoscaling/v1 Scale) for resources with 'scale'. */
export interface ScaleAccess {
  specReplicasPath: string[]; // ['spec','replicas']
  statusReplicasPath: string[];
  selector(obj: KObject): string; // label selector string for status.selector
}
