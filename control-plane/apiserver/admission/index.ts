// The admission chain: plugins that see a write after defaulting (and, for updates and
// patches, after merging with the stored object), as upstream's admission.Interface. A
// mutating plugin's `admit` runs before the object's validation and may change `obj`; a
// validating plugin's `validate` runs after it, just before storage (upstream's
// MutationInterface and ValidationInterface: a quota is charged only for a valid object).
// A plugin refuses by throwing a StatusError (admission's NewForbidden: `pods "x" is
// forbidden: ...`). ApiCore calls the chain for every request that carries a user; its own
// writes have none.
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { StatusError, forbiddenStatus } from '../../../api/status.js';
import type { UserInfo } from '../auth.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

export interface AdmissionAttributes {
  user: UserInfo;
  operation: Operation;
  def: ResourceDef;
  namespace?: string;
  name: string;
  subresource?: string;
  /** CREATE and UPDATE: the object to be stored; for a subresource create (eviction), the request body. */
  obj?: KObject;
  /** UPDATE and DELETE: the stored object. */
  old?: KObject;
  dryRun: boolean;
  /** Warnings for the client (sent as Warning headers); absent when the caller has nowhere to send them. */
  warnings?: string[];
}

export interface AdmissionPlugin {
  readonly name: string;
  /** Mutating phase: returns (or resolves) to admit; throws a StatusError to refuse. */
  admit?(a: AdmissionAttributes): void | Promise<void>;
  /** Validating phase, after the object's own validation. */
  validate?(a: AdmissionAttributes): void | Promise<void>;
}

/** upstream's admission.NewForbidden(a, err). */
export function admissionForbidden(a: AdmissionAttributes, message: string): StatusError {
  return new StatusError(forbiddenStatus({ group: a.def.group, resource: a.def.plural }, a.name, message));
}
