// What a kind does differently from the generic store (core.ts), as upstream's registry
// strategies (RESTCreateStrategy, RESTUpdateStrategy, RESTDeleteStrategy) and the
// BeginCreate/BeginUpdate finish-or-revert hooks. One file per kind that needs any of it
// (namespaces.ts, pods.ts, services.ts, nodes.ts); every other kind gets GENERIC.
import type { KObject } from '../../../api/registry.js';
import type { UserInfo } from '../auth.js';

/** A reservation made for a write (ClusterIPs, NodePorts): committed once stored, reverted otherwise. */
export interface Allocation {
  commit(): void;
  revert(): void;
}

export const NOTHING_ALLOCATED: Allocation = { commit() {}, revert() {} };

/** A user's create or update, after defaulting, before admission (see authorizeWrite). */
export interface WriteCheck {
  operation: 'CREATE' | 'UPDATE';
  user: UserInfo;
  namespace?: string;
  name: string;
  obj: KObject;
  old?: KObject;
}

export interface Strategy {
  /**
   * Create: sets what the server owns (status, phase, finalizers; a CSR's requestor from
   * `user`); clients' values are dropped.
   */
  prepareForCreate(obj: KObject, user: UserInfo | undefined): void;
  /**
   * Update through the main resource (`subresource` undefined) or a subresource: `obj` is the
   * wanted object after the generic merge (status kept from `old` for kinds with a status, or
   * taken from the request for `status`); keeps what only the server or another subresource sets.
   */
  prepareForUpdate(obj: KObject, old: KObject, subresource: string | undefined): void;
  /** A subresource that replaces part of the stored object (namespaces/finalize): the object to store. */
  mergeSubresource?(subresource: string, old: KObject, wanted: KObject): KObject | undefined;
  /** Reserves what the object needs (throws a 422 StatusError when it cannot). */
  allocate(obj: KObject, old: KObject | undefined): Allocation;
  /** The object left the store: give back what it held. */
  afterDelete(obj: KObject): void;
  /** Seconds a delete request waits before the object goes (pods on a node: their grace period). */
  gracePeriod(obj: KObject, requested: number | undefined): number;
  /** Whether a delete must wait for a lifecycle of the kind's own (a namespace's spec.finalizers). */
  waitsOnDelete(obj: KObject): boolean;
  /** Sets what a kind shows while its deletion waits (a namespace's Terminating phase). */
  prepareForDelete(obj: KObject): void;
  /** A deletion-marked object without metadata.finalizers: may it leave the store now? */
  canRemove(obj: KObject): boolean;
  /**
   * Refuses (403) a user's write the kind's own rules forbid whatever the admission chain
   * says: RBAC's escalation prevention (registry/rbac.ts).
   */
  authorizeWrite?(w: WriteCheck): Promise<void>;
}

export type StrategyOverrides = Partial<Strategy>;

/** The defaults, as upstream's generic registry: status is the server's, deletes go at once. */
export function strategy(hasStatus: boolean, o: StrategyOverrides = {}): Strategy {
  return {
    prepareForCreate(obj) {
      if (hasStatus) delete obj.status;
    },
    prepareForUpdate() {},
    allocate: () => NOTHING_ALLOCATED,
    afterDelete() {},
    gracePeriod: () => 0,
    waitsOnDelete: () => false,
    prepareForDelete() {},
    canRemove: () => true,
    ...o,
  };
}
