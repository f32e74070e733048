// CertificateSigningRequests (pkg/registry/certificates/certificates): the requestor comes
// from the authenticated user, never the body; spec is immutable; conditions change only
// through `approval`, the certificate only through `status` (api/certificates.ts).
import { prepareCSRForCreate, prepareCSRForUpdate } from '../../../api/certificates.js';
import { strategy, type Strategy } from './strategy.js';

export const csrStrategy: Strategy = strategy(true, {
  prepareForCreate: (obj, user) => prepareCSRForCreate(obj, user),
  prepareForUpdate: (obj, old, sub) => prepareCSRForUpdate(obj, old, sub),
});
