// The review kinds: create-only resources that are never stored (upstream's
// pkg/registry/authorization/{subjectaccessreview,localsubjectaccessreview,
// selfsubjectaccessreview,selfsubjectrulesreview} and authentication/selfsubjectreview). Each
// create is answered from the request: the decision of the apiserver's authorizers for the
// attributes asked about, the rules a user holds in a namespace, or who the caller is. What
// `kubectl auth can-i [--list]` and `kubectl auth whoami` ask.
import type { KObject, ResourceDef } from '../../../api/registry.js';
import { StatusError, badRequest, invalid } from '../../../api/status.js';
import type { FieldError } from '../../../api/registry.js';
import {
  reviewAttributes,
  reviewUser,
  validateLocalSubjectAccessReview,
  validateSelfSubjectAccessReview,
  validateSubjectAccessReview,
} from '../../../api/reviews.js';
import type { Authorization } from '../authz/index.js';
import type { UserInfo } from '../auth.js';
import { nowRfc3339 } from '../core.js';
import { fieldValidationOf } from '../decode.js';
import { checkTypeMeta, decodeBody, decodePrefix, parseObjectBody, readBody, writeBody, type ResourceRequest } from '../request.js';
import type { Handler } from '../routes.js';

async function readReview(r: ResourceRequest): Promise<KObject> {
  const { def } = r;
  const body = parseObjectBody(await readBody(r.req), r.req);
  checkTypeMeta(def, body);
  decodeBody(r.res, body, def.group, def.version, def.kind, fieldValidationOf(r.q, 'CreateOptions'), decodePrefix(def.kind, def.version));
  body.apiVersion = `${def.group}/${def.version}`;
  body.kind = def.kind;
  return body;
}

function authorizationOf(r: ResourceRequest): Authorization {
  const a = r.core.authorization;
  if (!a) throw new Error('the apiserver has no authorizer');
  return a;
}

function check(def: ResourceDef, errs: FieldError[]): void {
  if (errs.length) throw new StatusError(invalid(def.kind, '', errs, def.group));
}

/** Answers an access review: the decision for `user` on what the spec asks about. */
async function decide(r: ResourceRequest, review: KObject, user: UserInfo): Promise<void> {
  const d = await authorizationOf(r).authorize(user, reviewAttributes(review.spec));
  const status: Record<string, unknown> = { allowed: d.allowed };
  if (d.reason) status.reason = d.reason;
  review.status = status;
  writeBody(r.res, 201, review, r.neg.yaml);
}

const subjectAccessReview: Handler = async (r) => {
  const review = await readReview(r);
  check(r.def, validateSubjectAccessReview(review));
  await decide(r, review, reviewUser(review.spec));
};

const localSubjectAccessReview: Handler = async (r) => {
  const review = await readReview(r);
  const md = (review.metadata ??= {});
  if (md.namespace && md.namespace !== r.namespace) throw new StatusError(badRequest('the namespace of the provided object does not match the namespace sent on the request'));
  md.namespace = r.namespace;
  check(r.def, validateLocalSubjectAccessReview(review));
  await decide(r, review, reviewUser(review.spec));
};

const selfSubjectAccessReview: Handler = async (r) => {
  const review = await readReview(r);
  check(r.def, validateSelfSubjectAccessReview(review));
  await decide(r, review, r.user);
};

const selfSubjectRulesReview: Handler = async (r) => {
  const review = await readReview(r);
  const spec = review.spec;
  const namespace = spec && typeof spec === 'object' && !Array.isArray(spec) && typeof spec.namespace === 'string' ? spec.namespace : '';
  if (!namespace) throw new StatusError(badRequest('no namespace on request'));
  // As upstream, the answer carries the status only.
  writeBody(r.res, 201, { apiVersion: review.apiVersion, kind: review.kind, metadata: {}, spec: {}, status: authorizationOf(r).rulesFor(r.user, namespace) }, r.neg.yaml);
};

const selfSubjectReview: Handler = async (r) => {
  await readReview(r);
  const u = r.user;
  const userInfo: Record<string, unknown> = { username: u.name, groups: u.groups };
  if (u.uid) userInfo.uid = u.uid;
  if (u.extra) userInfo.extra = u.extra;
  writeBody(r.res, 201, { apiVersion: `${r.def.group}/${r.def.version}`, kind: r.def.kind, metadata: { creationTimestamp: nowRfc3339() }, status: { userInfo } }, r.neg.yaml);
};

/** The create handler of each review kind, by group/plural. */
export const REVIEWS: Record<string, Handler> = {
  'authorization.k8s.io/subjectaccessreviews': subjectAccessReview,
  'authorization.k8s.io/localsubjectaccessreviews': localSubjectAccessReview,
  'authorization.k8s.io/selfsubjectaccessreviews': selfSubjectAccessReview,
  'authorization.k8s.io/selfsubjectrulesreviews': selfSubjectRulesReview,
  'authentication.k8s.io/selfsubjectreviews': selfSubjectReview,
};
