import { describe, expect, it } from 'vitest';
import {
  alreadyExists,
  conflict,
  expired,
  forbidden,
  internalError,
  invalid,
  methodNotSupported,
  notFound,
  requestEntityTooLarge,
  StatusError,
  tooManyRequests,
  unauthorized,
} from '../../api/status.js';
import { invalidField, notSupportedField, requiredField } from '../../api/field.js';
import { findResource } from '../../api/resources.js';

describe('Status builders', () => {
  it('notFound uses the plural and the group-qualified resource', () => {
    const r = notFound('pods', 'x');
    expect(r.code).toBe(404);
    expect(r.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "x" not found',
      reason: 'NotFound',
      details: { name: 'x', group: '', kind: 'pods' },
      code: 404,
    });
    const d = findResource('apps', 'v1', 'deployments')!;
    expect(notFound(d, 'web').body.message).toBe('deployments.apps "web" not found');
    expect(notFound(d, 'web').body.details).toEqual({ name: 'web', group: 'apps', kind: 'deployments' });
  });

  it('alreadyExists and conflict', () => {
    expect(alreadyExists('services', 'redis').body.message).toBe('services "redis" already exists');
    expect(alreadyExists('services', 'redis').code).toBe(409);
    const c = conflict('pods', 'x');
    expect(c.code).toBe(409);
    expect(c.body.reason).toBe('Conflict');
    expect(c.body.message).toBe(
      'Operation cannot be fulfilled on pods "x": the object has been modified; please apply your changes to the latest version and try again',
    );
  });

  it('invalid with one cause prints it verbatim, causes carry the body without the field', () => {
    const r = invalid('ReplicationController', 'x', [invalidField('spec.replicas', -1, 'must be greater than or equal to 0')]);
    expect(r.code).toBe(422);
    expect(r.body.reason).toBe('Invalid');
    expect(r.body.message).toBe('ReplicationController "x" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0');
    expect(r.body.details).toEqual({
      name: 'x',
      group: '',
      kind: 'ReplicationController',
      causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: -1: must be greater than or equal to 0', field: 'spec.replicas' }],
    });
  });

  it('invalid with several causes joins them in brackets, duplicates once, group-qualified kind', () => {
    const a = requiredField('spec.selector');
    const b = notSupportedField('spec.template.spec.restartPolicy', 'Never', ['Always']);
    const r = invalid('Deployment', 'web', [a, b, a], 'apps');
    expect(r.body.message).toBe(
      'Deployment.apps "web" is invalid: [spec.selector: Required value, spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"]',
    );
    expect(r.body.details?.kind).toBe('Deployment');
    expect(r.body.details?.group).toBe('apps');
    expect(r.body.details?.causes).toHaveLength(3);
  });

  it('forbidden matches the RBAC message', () => {
    const r = forbidden('x', 'list', 'pods', 'default');
    expect(r.code).toBe(403);
    expect(r.body.message).toBe('pods is forbidden: User "x" cannot list resource "pods" in API group "" in the namespace "default"');
    const n = forbidden('system:anonymous', 'get', 'nodes', undefined, { name: 'n1' });
    expect(n.body.message).toBe('nodes "n1" is forbidden: User "system:anonymous" cannot get resource "nodes" in API group "" at the cluster scope');
    const d = forbidden('bob', 'create', 'deployments', 'prod', { group: 'apps', subresource: 'scale' });
    expect(d.body.message).toBe(
      'deployments.apps is forbidden: User "bob" cannot create resource "deployments/scale" in API group "apps" in the namespace "prod"',
    );
  });

  it('the rest of the family', () => {
    expect(unauthorized().body).toMatchObject({ code: 401, reason: 'Unauthorized', message: 'Unauthorized' });
    expect(expired(5, 100).body).toMatchObject({ code: 410, reason: 'Expired', message: 'too old resource version: 5 (100)' });
    expect(methodNotSupported('pods', 'create').body.message).toBe('create is not supported on resources of kind "pods"');
    expect(methodNotSupported('pods', 'create').code).toBe(405);
    expect(requestEntityTooLarge('limit is 3145728').body).toMatchObject({ code: 413, message: 'Request entity too large: limit is 3145728' });
    expect(tooManyRequests().body.details).toEqual({ retryAfterSeconds: 1 });
    expect(internalError(new Error('boom')).body).toMatchObject({
      code: 500,
      reason: 'InternalError',
      message: 'Internal error occurred: boom',
      details: { causes: [{ message: 'boom' }] },
    });
  });

  it('StatusError carries the status through throw', () => {
    try {
      throw new StatusError(notFound('pods', 'p'));
    } catch (e) {
      expect(e).toBeInstanceOf(StatusError);
      expect((e as StatusError).code).toBe(404);
      expect((e as StatusError).message).toBe('pods "p" not found');
    }
  });
});
