// Bootstrap tokens (kubeadm's Secret format), their authenticator, the failed-token throttle
// and the `k8ts token list` table.
import { describe, expect, it } from 'vitest';
import type { KObject } from '../../api/registry.js';
import {
  bootstrapGroupError,
  bootstrapTokenFromSecret,
  bootstrapTokenSecret,
  generateBootstrapToken,
  isSecretExpired,
  parseBootstrapToken,
} from '../../api/bootstraptoken.js';
import { BootstrapTokenAuthenticator, FailedTokenLimiter } from '../../control-plane/apiserver/bootstrap-tokens.js';
import { shortHumanDuration, tokenTable } from '../../cli/token.js';

const secretFor = (tok: string, extra: Partial<Parameters<typeof bootstrapTokenSecret>[0]> = {}) => {
  const p = parseBootstrapToken(tok)!;
  return bootstrapTokenSecret({ id: p.id, secret: p.secret, usages: ['authentication', 'signing'], groups: ['system:bootstrappers:kubeadm:default-node-token'], ...extra });
};

describe('bootstrap tokens', () => {
  it("have kubeadm's shape and Secret layout", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const t = generateBootstrapToken();
      expect(t).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
      seen.add(t);
    }
    expect(seen.size).toBe(200);
    const s = secretFor('abcdef.0123456789abcdef', { expires: Date.parse('2030-01-02T03:04:05Z'), description: 'd' });
    expect(s.metadata).toEqual({ name: 'bootstrap-token-abcdef', namespace: 'kube-system' });
    expect(s.type).toBe('bootstrap.kubernetes.io/token');
    const data = Object.fromEntries(Object.entries(s.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    expect(data).toEqual({
      'token-id': 'abcdef',
      'token-secret': '0123456789abcdef',
      expiration: '2030-01-02T03:04:05Z',
      'usage-bootstrap-authentication': 'true',
      'usage-bootstrap-signing': 'true',
      'auth-extra-groups': 'system:bootstrappers:kubeadm:default-node-token',
      description: 'd',
    });
    expect(bootstrapTokenFromSecret(s)).toEqual({ id: 'abcdef', secret: '0123456789abcdef', expires: Date.parse('2030-01-02T03:04:05Z'), usages: ['authentication', 'signing'], groups: ['system:bootstrappers:kubeadm:default-node-token'], description: 'd' });
    for (const bad of ['abcdef.0123456789abcde', 'ABCDEF.0123456789abcdef', 'abcdef0123456789abcdef', 'abcdef.0123456789abcdef.x', '']) expect(parseBootstrapToken(bad)).toBeUndefined();
    expect(bootstrapGroupError('system:bootstrappers:x')).toBeUndefined();
    expect(bootstrapGroupError('system:masters')).toMatch(/is invalid/);
  });

  it('expiry: past, unparsable (treated as expired) and none', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(isSecretExpired(secretFor('abcdef.0123456789abcdef', { expires: now - 1 }), now)).toBe(true);
    expect(isSecretExpired(secretFor('abcdef.0123456789abcdef', { expires: now + 1000 }), now)).toBe(false);
    expect(isSecretExpired(secretFor('abcdef.0123456789abcdef'), now)).toBe(false);
    const garbled = secretFor('abcdef.0123456789abcdef');
    garbled.data.expiration = Buffer.from('tomorrow').toString('base64');
    expect(isSecretExpired(garbled, now)).toBe(true);
  });

  it('authenticate as system:bootstrap:<id> in system:bootstrappers plus their extra groups, and only while valid', () => {
    const secrets = new Map<string, KObject>();
    const authn = new BootstrapTokenAuthenticator((n) => secrets.get(n));
    const tok = 'abcdef.0123456789abcdef';
    expect(authn.authenticateToken(tok)).toBeUndefined();
    secrets.set('bootstrap-token-abcdef', secretFor(tok, { expires: Date.now() + 60_000 }));
    expect(authn.authenticateToken(tok)).toEqual({ name: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated'] });
    expect(authn.authenticateToken('abcdef.0123456789abcdee')).toBeUndefined();
    expect(authn.authenticateToken('not-a-bootstrap-token')).toBeUndefined();
    secrets.set('bootstrap-token-abcdef', secretFor(tok, { expires: Date.now() - 1 }));
    expect(authn.authenticateToken(tok)).toBeUndefined();
    secrets.set('bootstrap-token-abcdef', secretFor(tok, { usages: ['signing'] }));
    expect(authn.authenticateToken(tok)).toBeUndefined();
    secrets.set('bootstrap-token-abcdef', secretFor(tok, { groups: ['system:masters'] }));
    expect(authn.authenticateToken(tok)).toBeUndefined();
    const wrongType = secretFor(tok);
    wrongType.type = 'Opaque';
    secrets.set('bootstrap-token-abcdef', wrongType);
    expect(authn.authenticateToken(tok)).toBeUndefined();
    const deleting = secretFor(tok);
    deleting.metadata!.deletionTimestamp = '2024-01-01T00:00:00Z';
    secrets.set('bootstrap-token-abcdef', deleting);
    expect(authn.authenticateToken(tok)).toBeUndefined();
  });
});

describe('the failed-token throttle', () => {
  it('a bucket per address: 429 once spent, refilling over time; other addresses unaffected', () => {
    let now = 1_000_000;
    const l = new FailedTokenLimiter({ burst: 3, perSecond: 0.5, now: () => now });
    for (let i = 0; i < 2; i++) {
      expect(l.retryAfterSeconds('10.0.0.1')).toBe(0);
      l.failed('10.0.0.1', 'abcdef.0000000000000000');
    }
    expect(l.retryAfterSeconds('10.0.0.1')).toBe(0);
    l.failed('10.0.0.1', 'x');
    expect(l.retryAfterSeconds('10.0.0.1')).toBe(2);
    expect(l.retryAfterSeconds('10.0.0.2')).toBe(0);
    const err = l.throttled(2);
    expect(err.status.code).toBe(429);
    expect(err.status.body).toMatchObject({ reason: 'TooManyRequests', details: { retryAfterSeconds: 2 } });
    now += 1000;
    expect(l.retryAfterSeconds('10.0.0.1')).toBe(1);
    now += 1000;
    expect(l.retryAfterSeconds('10.0.0.1')).toBe(0);
  });

  it('keeps bounded state under a flood of addresses', () => {
    const l = new FailedTokenLimiter({ burst: 1, perSecond: 1 });
    for (let i = 0; i < 25_000; i++) l.failed(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 'x');
    expect((l as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(10_000);
  });
});

describe('k8ts token list', () => {
  it("prints kubeadm's columns", () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const t = tokenTable(
      [
        secretFor('abcdef.0123456789abcdef', { expires: now + 23 * 3600_000 + 59 * 60_000, description: 'join' }),
        secretFor('zzzzzz.0123456789abcdef', { groups: [] }),
        { metadata: { name: 'bootstrap-token-broken', namespace: 'kube-system' }, type: 'bootstrap.kubernetes.io/token', data: {} },
      ],
      now,
    );
    expect(t.table).toBe(
      [
        'TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION   EXTRA GROUPS',
        'abcdef.0123456789abcdef   23h         2030-01-01T23:59:00Z   authentication,signing   join          system:bootstrappers:kubeadm:default-node-token',
        'zzzzzz.0123456789abcdef   <forever>   <never>                authentication,signing   <none>        <none>',
        '',
      ].join('\n'),
    );
    expect(t.errors).toEqual(['secret kube-system/bootstrap-token-broken is not a valid bootstrap token']);
    expect(shortHumanDuration(59_000)).toBe('59s');
    expect(shortHumanDuration(3 * 86_400_000)).toBe('3d');
    expect(shortHumanDuration(-5000)).toBe('<invalid>');
  });
});
