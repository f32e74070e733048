// Secrets at rest on the real `k8ts control-plane` process, driven by the real kubectl: with
// --encryption-provider-config the stored Secret is `k8s:enc:aescbc:v1:<key>:` + AES-CBC
// (checked by reading the raw SQLite file and the raw etcd key, and decrypting it with
// openssl, an implementation of its own); kubectl sees plaintext on get, list and watch;
// ConfigMaps stay as they are; Secrets written before stay readable and are encrypted when
// rewritten; rotation by key order, on restart and by automatic reload; a bad file stops
// the start; and the data dir is owner-only, also when found looser.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Etcd3 } from 'etcd3';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { waitFor } from '../helpers/wait.js';

const cfgDir = mkdtempSync(join(tmpdir(), 'k8ts-enc-cfg-'));
afterAll(() => rmSync(cfgDir, { recursive: true, force: true }));

const key1 = randomBytes(32);
const key2 = randomBytes(32);
const aescbc = (keys: Array<[string, Buffer]>) =>
  `      - aescbc:\n          keys:\n${keys.map(([n, k]) => `            - name: ${n}\n              secret: ${k.toString('base64')}\n`).join('')}`;
function writeConfig(path: string, providers: string): void {
  writeFileSync(path, `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n${providers}`, { mode: 0o600 });
}

/** The newest row of a key, read from the SQLite file by a connection of its own. */
function rawSqlite(cp: TestControlPlane, key: string): Buffer | string | undefined {
  const db = new Database(join(cp.dataDir, 'state.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT value, deleted FROM log WHERE key = ? ORDER BY revision DESC LIMIT 1').get(key) as { value: Buffer | string; deleted: number } | undefined;
    return row && !row.deleted ? row.value : undefined;
  } finally {
    db.close();
  }
}

/** Decrypts upstream's aescbc layout (IV, then AES-256-CBC with PKCS#7) with openssl. */
async function opensslAescbc(stored: Buffer, prefix: string, secret: Buffer): Promise<string> {
  expect(stored.subarray(0, prefix.length).toString('latin1')).toBe(prefix);
  const body = stored.subarray(prefix.length);
  const r = await execa('openssl', ['enc', '-d', '-aes-256-cbc', '-K', secret.toString('hex'), '-iv', body.subarray(0, 16).toString('hex')], {
    input: body.subarray(16),
    encoding: 'buffer',
  });
  return Buffer.from(r.stdout).toString('utf8');
}

async function ok(cp: TestControlPlane, args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, { input });
  expect(r.exitCode, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secretKey = (name: string) => `/registry/core/secrets/default/${name}`;

describe('encryption at rest (embedded store)', () => {
  let cp: TestControlPlane;
  const cfg = join(cfgDir, 'sqlite.yaml');
  const plain = (name: string) => `pw-${name}-${randomBytes(6).toString('hex')}`;
  const values = new Map<string, string>();
  const create = async (name: string) => {
    values.set(name, plain(name));
    await ok(cp, ['create', 'secret', 'generic', name, `--from-literal=password=${values.get(name)}`]);
  };
  const getPassword = async (name: string) => Buffer.from(await ok(cp, ['get', 'secret', name, '-o', 'jsonpath={.data.password}']), 'base64').toString();
  const rawBuf = (name: string) => {
    const v = rawSqlite(cp, secretKey(name));
    expect(v, `raw row of ${name}`).toBeDefined();
    return typeof v === 'string' ? Buffer.from(v) : v!;
  };

  beforeAll(async () => {
    // First without encryption (identity only), to have a Secret stored in plaintext.
    writeConfig(cfg, '      - identity: {}\n');
    cp = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers', '--encryption-provider-config', cfg, '--encryption-provider-config-automatic-reload'] });
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('a Secret is stored as k8s:enc:aescbc:v1:key1: + AES-CBC (openssl decrypts it), kubectl reads plaintext, a ConfigMap is stored as is', async () => {
    await create('before');
    expect(rawBuf('before').toString()).toContain(b64(values.get('before')!)); // plaintext on disk: the state before
    writeConfig(cfg, aescbc([['key1', key1]]) + '      - identity: {}\n');
    await cp.restart();
    await create('s1');
    const cmValue = `cm-${randomBytes(6).toString('hex')}`;
    await ok(cp, ['create', 'configmap', 'c1', `--from-literal=k=${cmValue}`]);

    const raw = rawBuf('s1');
    expect(raw.subarray(0, 23).toString('latin1')).toBe('k8s:enc:aescbc:v1:key1:');
    expect(raw.includes(Buffer.from(values.get('s1')!))).toBe(false);
    expect(raw.includes(Buffer.from(b64(values.get('s1')!)))).toBe(false);
    const decrypted = JSON.parse(await opensslAescbc(raw, 'k8s:enc:aescbc:v1:key1:', key1));
    expect(decrypted).toMatchObject({ kind: 'Secret', metadata: { name: 's1' }, data: { password: b64(values.get('s1')!) } });

    expect(await getPassword('s1')).toBe(values.get('s1'));
    const list = JSON.parse(await ok(cp, ['get', 'secrets', '-o', 'json'])) as { items: Array<{ metadata: { name: string }; data: Record<string, string> }> };
    expect(list.items.find((s) => s.metadata.name === 's1')?.data.password).toBe(b64(values.get('s1')!));
    const cmRaw = rawSqlite(cp, '/registry/core/configmaps/default/c1');
    expect(typeof cmRaw).toBe('string');
    expect(JSON.parse(cmRaw as string)).toMatchObject({ data: { k: cmValue } });
  });

  it('watch events carry the plaintext, never the ciphertext', async () => {
    const w = cp.kubectlStream(['get', 'secrets', '--watch', '-o', 'json']);
    try {
      await waitFor('the watch to list s1', () => w.output().includes('"name": "s1"'));
      await create('watched');
      await waitFor('the watch event of the new Secret', () => w.output().includes(b64(values.get('watched')!)));
      expect(w.output()).not.toContain('k8s:enc:');
    } finally {
      await w.stop();
    }
  });

  it('a Secret stored before encryption stays readable (identity) and is encrypted when rewritten with kubectl replace', async () => {
    expect(await getPassword('before')).toBe(values.get('before'));
    expect(rawBuf('before').toString()).toContain(b64(values.get('before')!));
    const all = await ok(cp, ['get', 'secrets', '-A', '-o', 'json']);
    await ok(cp, ['replace', '-f', '-'], all);
    const raw = rawBuf('before');
    expect(raw.subarray(0, 23).toString('latin1')).toBe('k8s:enc:aescbc:v1:key1:');
    expect(raw.includes(Buffer.from(b64(values.get('before')!)))).toBe(false);
    expect(await getPassword('before')).toBe(values.get('before'));
  });

  it('key rotation: a new key first (the old one second) takes effect on automatic reload, old Secrets stay readable, and after a restart too', async () => {
    writeConfig(cfg, aescbc([['key2', key2], ['key1', key1]]) + '      - identity: {}\n');
    // Reloaded while running: new writes use key2 (a probe Secret rewritten until they do).
    await create('probe');
    await waitFor('new writes to use key2', async () => {
      await ok(cp, ['label', 'secret', 'probe', `round=${Date.now()}`, '--overwrite']);
      return rawBuf('probe').subarray(0, 23).toString('latin1') === 'k8s:enc:aescbc:v1:key2:';
    });
    expect(cp.log()).toContain('loaded new encryption provider configuration');
    await create('s2');
    const raw2 = rawBuf('s2');
    expect(JSON.parse(await opensslAescbc(raw2, 'k8s:enc:aescbc:v1:key2:', key2))).toMatchObject({ metadata: { name: 's2' } });
    expect(rawBuf('s1').subarray(0, 23).toString('latin1')).toBe('k8s:enc:aescbc:v1:key1:');
    expect(await getPassword('s1')).toBe(values.get('s1'));
    await cp.restart();
    for (const n of ['before', 's1', 's2', 'watched']) expect(await getPassword(n), n).toBe(values.get(n));
    // A replace moves the old ones onto key2.
    await ok(cp, ['replace', '-f', '-'], await ok(cp, ['get', 'secrets', '-o', 'json']));
    expect(rawBuf('s1').subarray(0, 23).toString('latin1')).toBe('k8s:enc:aescbc:v1:key2:');
  });

  it('an invalid file on automatic reload is logged and the running configuration kept', async () => {
    writeFileSync(cfg, 'apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: []\n');
    await waitFor('the reload failure in the log', () => cp.log().includes('failed to reload encryption provider configuration'));
    expect(cp.log()).toContain('resources: Required value: at least one resources is required');
    await create('s3');
    expect(rawBuf('s3').subarray(0, 23).toString('latin1')).toBe('k8s:enc:aescbc:v1:key2:');
    writeConfig(cfg, aescbc([['key2', key2], ['key1', key1]]) + '      - identity: {}\n');
  });

  it('the data dir is 0700 and its files 0600; looser modes are tightened (and logged) at start; user nobody reads nothing', async () => {
    const mode = (p: string) => statSync(join(cp.dataDir, p)).mode & 0o777;
    const storeFiles = ['state.db', 'state.db-wal', 'state.db-shm', 'state.lock', 'join-token', 'admin.kubeconfig'];
    const check = () => {
      expect(mode('.')).toBe(0o700);
      expect(mode('pki')).toBe(0o700);
      for (const f of storeFiles) expect(mode(f), f).toBe(0o600);
      for (const f of readdirSync(join(cp.dataDir, 'pki'))) expect(mode(join('pki', f)), f).toBe(0o600);
    };
    check();
    const asNobody = (p: string) => execa('runuser', ['-u', 'nobody', '--', 'cat', join(cp.dataDir, p)], { reject: false, encoding: 'buffer' });
    // What an older version left: a 0755 dir with 0644 files, which nobody could read.
    chmodSync(cp.dataDir, 0o755);
    chmodSync(join(cp.dataDir, 'state.db'), 0o644);
    chmodSync(join(cp.dataDir, 'pki', 'ca.key'), 0o644);
    const before = await asNobody('state.db');
    expect(before.exitCode, 'the loose layout is readable by nobody (the test can tell)').toBe(0);
    await cp.restart();
    check();
    expect(cp.log()).toMatch(/"path":"[^"]*state\.db","from":"0644","to":"0600".*tightened/);
    for (const f of ['state.db', 'pki/ca.key', 'join-token']) {
      const r = await asNobody(f);
      expect(r.exitCode, f).not.toBe(0);
      expect(Buffer.from(r.stderr).toString()).toContain('Permission denied');
    }
  });

  it('an invalid configuration stops the start with the field named', async () => {
    const bad = join(cfgDir, 'bad.yaml');
    writeConfig(bad, aescbc([['key1', randomBytes(8)]]));
    const err = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers', '--encryption-provider-config', bad] }).then(
      async (c) => {
        await c.stop();
        return undefined;
      },
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/exited \(code 1/);
    expect(err?.message).toContain(
      'resources[0].providers[0].aescbc.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 8, expected one of [16 24 32]',
    );
    const kms = join(cfgDir, 'kms.yaml');
    writeConfig(kms, '      - kms:\n          apiVersion: v2\n          name: vault\n          endpoint: unix:///run/kms.sock\n');
    const kmsErr = await startTestControlPlane({ extraArgs: ['--no-scheduler', '--no-controllers', '--encryption-provider-config', kms] }).then(
      async (c) => {
        await c.stop();
        return undefined;
      },
      (e: Error) => e,
    );
    expect(kmsErr?.message).toContain('resources[0].providers[0].kms: Forbidden: KMS providers are not supported by k8ts');
  });
});

describe('encryption at rest (etcd store)', () => {
  let cp: TestControlPlane;
  const cfg = join(cfgDir, 'etcd.yaml');

  beforeAll(async () => {
    writeConfig(cfg, aescbc([['key1', key1]]) + '      - identity: {}\n');
    cp = await startTestControlPlane({ etcd: true, extraArgs: ['--no-scheduler', '--no-controllers', '--etcd-prefix', '/k8ts', '--encryption-provider-config', cfg] });
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('the raw etcd value is k8s:enc:aescbc:v1:key1: + AES-CBC; kubectl reads plaintext; the etcd data dir is owner-only', async () => {
    const pw = `pw-${randomBytes(6).toString('hex')}`;
    await ok(cp, ['create', 'secret', 'generic', 'e1', `--from-literal=password=${pw}`]);
    const client = new Etcd3({ hosts: cp.etcd!.endpoint });
    try {
      const raw = await client.get(`/k8ts${secretKey('e1')}`).buffer();
      expect(raw).not.toBeNull();
      expect(raw!.includes(Buffer.from(b64(pw)))).toBe(false);
      expect(JSON.parse(await opensslAescbc(raw!, 'k8s:enc:aescbc:v1:key1:', key1))).toMatchObject({ data: { password: b64(pw) } });
    } finally {
      client.close();
    }
    expect(Buffer.from(await ok(cp, ['get', 'secret', 'e1', '-o', 'jsonpath={.data.password}']), 'base64').toString()).toBe(pw);
    await cp.restart();
    expect(Buffer.from(await ok(cp, ['get', 'secret', 'e1', '-o', 'jsonpath={.data.password}']), 'base64').toString()).toBe(pw);
    for (const d of [cp.etcd!.dataDir, join(cp.etcd!.dataDir, 'data')]) expect(statSync(d).mode & 0o777, d).toBe(0o700);
  });
});
