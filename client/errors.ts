// One error type for every failed API call, carrying the Kubernetes Status the apiserver sent,
// and the predicates client-go's k8s.io/apimachinery/pkg/api/errors offers (IsNotFound,
// IsConflict, ...). They look at the Status reason first and the HTTP code second, as upstream
// does: a 409 is AlreadyExists on create and Conflict on a stale update.

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: Array<{ reason?: string; message?: string; field?: string }>;
  retryAfterSeconds?: number;
}

/** metav1.Status as the apiserver sends it with every error. */
export interface Status {
  apiVersion?: string;
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: StatusDetails;
}

export class ApiError extends Error {
  /** HTTP status code (0 for an error that never got an answer: refused, reset, timed out). */
  readonly code: number;
  /** Status.reason: NotFound, AlreadyExists, Conflict, Invalid, Expired, Gone, ... */
  readonly reason: string;
  readonly status?: Status;
  constructor(code: number, status: Status | undefined, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.reason = status?.reason ?? reasonForCode(code);
  }

  /** The error body, as client-node's ApiException had it (what older callers read). */
  get body(): Status | undefined {
    return this.status;
  }
}

/** The reason upstream's errors.reasonForCode gives a bare HTTP code. */
function reasonForCode(code: number): string {
  switch (code) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'MethodNotAllowed';
    case 406:
      return 'NotAcceptable';
    case 409:
      return 'Conflict';
    case 410:
      return 'Gone';
    case 413:
      return 'RequestEntityTooLarge';
    case 415:
      return 'UnsupportedMediaType';
    case 422:
      return 'Invalid';
    case 429:
      return 'TooManyRequests';
    case 500:
      return 'InternalError';
    case 503:
      return 'ServiceUnavailable';
    case 504:
      return 'Timeout';
    default:
      return code ? 'Unknown' : 'ConnectionFailed';
  }
}

const asApi = (err: unknown): ApiError | undefined => (err instanceof ApiError ? err : undefined);

/** The HTTP code of a failed call, undefined for an error that is not an API error. */
export function statusCode(err: unknown): number | undefined {
  const e = asApi(err);
  return e && e.code ? e.code : undefined;
}

export const isNotFound = (err: unknown): boolean => asApi(err)?.reason === 'NotFound' || statusCode(err) === 404;
export const isAlreadyExists = (err: unknown): boolean => asApi(err)?.reason === 'AlreadyExists';
/** 409 other than AlreadyExists: a stale resourceVersion, a failed precondition. */
export const isConflict = (err: unknown): boolean => statusCode(err) === 409 && !isAlreadyExists(err);
export const isInvalid = (err: unknown): boolean => asApi(err)?.reason === 'Invalid' || statusCode(err) === 422;
export const isForbidden = (err: unknown): boolean => statusCode(err) === 403;
export const isUnauthorized = (err: unknown): boolean => statusCode(err) === 401;
export const isBadRequest = (err: unknown): boolean => statusCode(err) === 400;
export const isTooManyRequests = (err: unknown): boolean => statusCode(err) === 429;
export const isMethodNotSupported = (err: unknown): boolean => statusCode(err) === 405;
/** 410: a watch or list from a resourceVersion the store has compacted away (Expired or Gone). */
export const isResourceExpired = (err: unknown): boolean => statusCode(err) === 410 || asApi(err)?.reason === 'Expired';
export const isServerTimeout = (err: unknown): boolean => asApi(err)?.reason === 'ServerTimeout' || statusCode(err) === 504;
export const isInternalError = (err: unknown): boolean => statusCode(err) === 500;
export const isServiceUnavailable = (err: unknown): boolean => statusCode(err) === 503;

/** The message to log or put in an event: the Status message when there is one. */
export function errorMessage(err: unknown): string {
  const e = asApi(err);
  if (e) return e.status?.message ?? e.message;
  return err instanceof Error ? err.message : String(err);
}
