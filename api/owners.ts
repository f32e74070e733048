// ownerReference helpers shared by controllers and the garbage collector.
import type { KObject, ResourceDef } from './registry.js';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export function apiVersionOf(def: Pick<ResourceDef, 'group' | 'version'>): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

/** The ownerReference with controller: true, if any. */
export function controllerRef(obj: KObject): OwnerReference | undefined {
  const refs: OwnerReference[] = obj.metadata?.ownerReferences ?? [];
  return refs.find((r) => r.controller === true);
}

/** A controller reference to `owner`, as controllers stamp on what they create. */
export function newControllerRef(owner: KObject, def: Pick<ResourceDef, 'group' | 'version' | 'kind'>): OwnerReference {
  return {
    apiVersion: apiVersionOf(def),
    kind: def.kind,
    name: owner.metadata?.name ?? '',
    uid: owner.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** True when obj's controller reference points at owner (by UID, which survives re-creation with the same name). */
export function isControlledBy(obj: KObject, owner: KObject): boolean {
  const ref = controllerRef(obj);
  return !!ref && !!owner.metadata?.uid && ref.uid === owner.metadata.uid;
}

export function ownerReferences(obj: KObject): OwnerReference[] {
  return obj.metadata?.ownerReferences ?? [];
}

/** Whether any ownerReference points to the given uid. */
export function isOwnedBy(obj: KObject, uid: string): boolean {
  return ownerReferences(obj).some((r) => r.uid === uid);
}

/** Adds or replaces the controller reference (adoption); returns false if another controller owns obj. */
export function setControllerRef(obj: KObject, ref: OwnerReference): boolean {
  const meta = (obj.metadata ??= {});
  const refs: OwnerReference[] = meta.ownerReferences ?? [];
  const existing = refs.find((r) => r.controller === true);
  if (existing && existing.uid !== ref.uid) return false;
  meta.ownerReferences = [...refs.filter((r) => r.uid !== ref.uid), ref];
  return true;
}

/** Removes the reference to uid (orphaning / release). */
export function removeOwnerRef(obj: KObject, uid: string): void {
  const meta = obj.metadata;
  if (!meta?.ownerReferences) return;
  meta.ownerReferences = (meta.ownerReferences as OwnerReference[]).filter((r) => r.uid !== uid);
  if (meta.ownerReferences.length === 0) delete meta.ownerReferences;
}
