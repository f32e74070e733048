// Encryption at rest below the apiserver: each provider's round trip and stored layout,
// wrong keys and tampering, prefix and key selection (stale reads), EncryptionConfiguration
// validation with upstream's field messages, resource matching, and the encrypting Store
// over a store double and over the real SQLite file.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  encryptionConfigFromText,
  EncryptionConfigError,
  ensureEncryptionConfig,
  generatedEncryptionConfig,
  loadEncryptionConfig,
  type ResourceTransformers,
} from '../../control-plane/storage/encryption/config.js';
import { encryptingStore } from '../../control-plane/storage/encryption/store.js';
import { identity, prefixTransformers, providerTransformer, type ProviderType } from '../../control-plane/storage/encryption/transformers.js';
import { SqliteStore } from '../../control-plane/storage/sqlite.js';
import type { WatchEvent } from '../../control-plane/storage/store.js';
import { secureDataDir } from '../../control-plane/apiserver/datadir.js';
import { MemStore } from '../helpers/memstore.js';

const KEY = '/registry/core/secrets/default/s1';
const PLAIN = JSON.stringify({ kind: 'Secret', apiVersion: 'v1', metadata: { name: 's1' }, data: { password: 'c2VjcmV0LXZhbHVl' }, note: 'ünïcødé ✓ \u{1F600}' });

function config(providers: string, resources = ['secrets']): string {
  return `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [${resources.map((r) => `'${r}'`).join(', ')}]\n    providers:\n${providers}`;
}
const keyYaml = (type: string, keys: Array<[string, Buffer]>) =>
  `      - ${type}:\n          keys:\n${keys.map(([n, s]) => `            - name: ${n}\n              secret: ${s.toString('base64')}\n`).join('')}`;
const load = (text: string) => encryptionConfigFromText(text, '/etc/enc.yaml');
const bytesOf = (stored: string, prefix: string) => Buffer.from(stored.slice(prefix.length), 'latin1');

describe('providers: round trip and upstream layout', () => {
  const cases: Array<[ProviderType, number]> = [
    ['aescbc', 16],
    ['aescbc', 24],
    ['aescbc', 32],
    ['aesgcm', 16],
    ['aesgcm', 24],
    ['aesgcm', 32],
    ['secretbox', 32],
  ];
  for (const [type, size] of cases) {
    it(`${type} with a ${size}-byte key: k8s:enc:${type}:v1:key1: + ciphertext, read back to the same text`, () => {
      const t = providerTransformer(type, [{ name: 'key1', secret: randomBytes(size) }]);
      const chain = prefixTransformers('no matching prefix found', [t]);
      const stored = chain.toStorage(PLAIN, KEY);
      const prefix = `k8s:enc:${type}:v1:key1:`;
      expect(stored.startsWith(prefix)).toBe(true);
      expect(stored).not.toContain('c2VjcmV0LXZhbHVl');
      const n = Buffer.byteLength(PLAIN);
      const body = bytesOf(stored, prefix).length;
      // IV + PKCS#7-padded blocks; nonce + ciphertext + tag; nonce + tag + ciphertext.
      expect(body).toBe(type === 'aescbc' ? 16 + (Math.floor(n / 16) + 1) * 16 : type === 'aesgcm' ? 12 + n + 16 : 24 + 16 + n);
      expect(chain.fromStorage(stored, KEY)).toEqual({ value: PLAIN, stale: false });
      // A fresh IV/nonce every time: the same text never stores the same bytes twice.
      expect(chain.toStorage(PLAIN, KEY)).not.toBe(stored);
    });
  }

  it('aescbc and aesgcm bytes are what AES itself gives (IV or nonce first; GCM tag last, store key as additional data)', () => {
    const secret = randomBytes(32);
    const cbc = providerTransformer('aescbc', [{ name: 'k', secret }]).transformer.toStorage(PLAIN, KEY);
    const cb = bytesOf(cbc, 'k:');
    const d = createDecipheriv('aes-256-cbc', secret, cb.subarray(0, 16));
    expect(Buffer.concat([d.update(cb.subarray(16)), d.final()]).toString()).toBe(PLAIN);
    const gcm = providerTransformer('aesgcm', [{ name: 'k', secret }]).transformer.toStorage(PLAIN, KEY);
    const gb = bytesOf(gcm, 'k:');
    const g = createDecipheriv('aes-256-gcm', secret, gb.subarray(0, 12));
    g.setAAD(Buffer.from(KEY));
    g.setAuthTag(gb.subarray(gb.length - 16));
    expect(Buffer.concat([g.update(gb.subarray(12, gb.length - 16)), g.final()]).toString()).toBe(PLAIN);
    // And the other way: a value AES-CBC-encrypted elsewhere reads back.
    const iv = randomBytes(16);
    const c = createCipheriv('aes-256-cbc', secret, iv);
    const foreign = 'k:' + Buffer.concat([iv, c.update(PLAIN), c.final()]).toString('latin1');
    expect(providerTransformer('aescbc', [{ name: 'k', secret }]).transformer.fromStorage(foreign, KEY).value).toBe(PLAIN);
  });

  it('a wrong key fails cleanly: an Error saying why (aesgcm, secretbox), never the plaintext (aescbc, which has no MAC)', () => {
    for (const type of ['aescbc', 'aesgcm', 'secretbox'] as ProviderType[]) {
      const good = prefixTransformers('x', [providerTransformer(type, [{ name: 'key1', secret: randomBytes(32) }])]);
      const bad = prefixTransformers('x', [providerTransformer(type, [{ name: 'key1', secret: randomBytes(32) }])]);
      for (let i = 0; i < 20; i++) {
        const stored = good.toStorage(PLAIN, KEY);
        let out: string | undefined;
        try {
          out = bad.fromStorage(stored, KEY).value;
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          expect((err as Error).message).toMatch(type === 'aescbc' ? /invalid padding on input/ : /message authentication failed/);
          continue;
        }
        expect(type).toBe('aescbc'); // only CBC can decrypt to (garbage) without noticing
        expect(out).not.toBe(PLAIN);
      }
    }
  });

  it('tampered or truncated data and (for aesgcm) data moved under another key do not read', () => {
    for (const type of ['aesgcm', 'secretbox'] as ProviderType[]) {
      const t = prefixTransformers('x', [providerTransformer(type, [{ name: 'key1', secret: randomBytes(32) }])]);
      const stored = t.toStorage(PLAIN, KEY);
      const flipped = stored.slice(0, -5) + String.fromCharCode(stored.charCodeAt(stored.length - 5) ^ 1) + stored.slice(-4);
      expect(() => t.fromStorage(flipped, KEY)).toThrow(/message authentication failed/);
      expect(() => t.fromStorage(stored.slice(0, `k8s:enc:${type}:v1:key1:`.length + 10), KEY)).toThrow(/shorter than the required size/);
    }
    const gcm = prefixTransformers('x', [providerTransformer('aesgcm', [{ name: 'key1', secret: randomBytes(32) }])]);
    expect(() => gcm.fromStorage(gcm.toStorage(PLAIN, KEY), '/registry/core/secrets/default/other')).toThrow(/message authentication failed/);
    const cbc = prefixTransformers('x', [providerTransformer('aescbc', [{ name: 'key1', secret: randomBytes(32) }])]);
    expect(() => cbc.fromStorage(cbc.toStorage(PLAIN, KEY).slice(0, -3), KEY)).toThrow(/not a multiple of the block size/);
  });
});

describe('prefixes: which provider and key read a value', () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const oldFirst = load(config(keyYaml('aescbc', [['key1', k1], ['key2', k2]]))).forResource('', 'secrets');
  const newFirst = load(config(keyYaml('aescbc', [['key2', k2], ['key1', k1]]))).forResource('', 'secrets');

  it('the first key writes; any listed key reads; a value not written by the first key is stale', () => {
    const byKey1 = oldFirst.toStorage(PLAIN, KEY);
    expect(byKey1.startsWith('k8s:enc:aescbc:v1:key1:')).toBe(true);
    expect(newFirst.toStorage(PLAIN, KEY).startsWith('k8s:enc:aescbc:v1:key2:')).toBe(true);
    expect(oldFirst.fromStorage(byKey1, KEY)).toEqual({ value: PLAIN, stale: false });
    expect(newFirst.fromStorage(byKey1, KEY)).toEqual({ value: PLAIN, stale: true });
  });

  it('a key name nobody lists, a provider nobody lists, and unencrypted data without identity: clear errors', () => {
    const only2 = load(config(keyYaml('aescbc', [['key2', k2]]))).forResource('', 'secrets');
    expect(() => only2.fromStorage(oldFirst.toStorage(PLAIN, KEY), KEY)).toThrow('no matching key was found for the provided AES transformer');
    const box = load(config(keyYaml('secretbox', [['key1', k1]]))).forResource('', 'secrets');
    expect(() => box.fromStorage(oldFirst.toStorage(PLAIN, KEY), KEY)).toThrow('no matching prefix found');
    expect(() => oldFirst.fromStorage(PLAIN, KEY)).toThrow('no matching prefix found');
  });

  it('providers in order: secretbox first writes, aescbc and identity still read (stale)', () => {
    const t = load(config(keyYaml('secretbox', [['new', k1]]) + keyYaml('aescbc', [['key1', k1]]) + '      - identity: {}\n')).forResource('', 'secrets');
    expect(t.toStorage(PLAIN, KEY).startsWith('k8s:enc:secretbox:v1:new:')).toBe(true);
    expect(t.fromStorage(oldFirst.toStorage(PLAIN, KEY), KEY)).toEqual({ value: PLAIN, stale: true });
    expect(t.fromStorage(PLAIN, KEY)).toEqual({ value: PLAIN, stale: true });
  });

  it('identity first (decrypting): writes plaintext, still reads encrypted values; alone it refuses them', () => {
    const t = load(config('      - identity: {}\n' + keyYaml('aescbc', [['key1', k1]]))).forResource('', 'secrets');
    expect(t.toStorage(PLAIN, KEY)).toBe(PLAIN);
    expect(t.fromStorage(PLAIN, KEY)).toEqual({ value: PLAIN, stale: false });
    expect(t.fromStorage(oldFirst.toStorage(PLAIN, KEY), KEY)).toEqual({ value: PLAIN, stale: true });
    expect(() => identity.fromStorage(oldFirst.toStorage(PLAIN, KEY), KEY)).toThrow('identity transformer tried to read encrypted data');
  });
});

describe('EncryptionConfiguration: validation names the field, as upstream', () => {
  const k32 = randomBytes(32);
  const cases: Array<[string, string, string | RegExp]> = [
    ['an empty file', '', 'encryption provider configuration file "/etc/enc.yaml" is empty'],
    ['another kind', 'apiVersion: v1\nkind: ConfigMap\n', 'no kind "ConfigMap" is registered for version "v1"'],
    ['an unknown field (strict decoding)', config('      - aescbc:\n          kyes: []\n'), 'strict decoding error: unknown field "resources[0].providers[0].aescbc.kyes"'],
    ['no resources', 'apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources: []\n', 'resources: Required value: at least one resources is required'],
    ['an entry without resources', config(keyYaml('aescbc', [['k', k32]]), []), 'resources[0].resources: Required value: at least one resources[0].resources is required'],
    ['an entry without providers', config(''), 'resources[0].providers: Required value: at least one resources[0].providers is required'],
    ['a short AES key', config(keyYaml('aescbc', [['k', randomBytes(8)]])), 'resources[0].providers[0].aescbc.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 8, expected one of [16 24 32]'],
    ['a 16-byte secretbox key', config(keyYaml('secretbox', [['k', randomBytes(16)]])), 'resources[0].providers[0].secretbox.keys[0].secret: Invalid value: "REDACTED": secret is not of the expected length, got 16, expected one of [32]'],
    ['a secret that is not base64', config('      - aesgcm:\n          keys:\n            - name: k\n              secret: "not base64!"\n'), 'resources[0].providers[0].aesgcm.keys[0].secret: Invalid value: "REDACTED": secrets must be base64 encoded'],
    ['a key without a name', config(`      - aescbc:\n          keys:\n            - secret: ${k32.toString('base64')}\n`), 'resources[0].providers[0].aescbc.keys[0].name: Required value: name is a mandatory field for a key'],
    ['no keys', config('      - aescbc:\n          keys: []\n'), 'resources[0].providers[0].aescbc.keys: Required value: at least one keys is required'],
    ['two providers in one element', config(`      - identity: {}\n        aescbc:\n          keys:\n            - name: k\n              secret: ${k32.toString('base64')}\n`), 'resources[0].providers[0]: Invalid value: more than one provider specified in a single element'],
    ['an empty provider', config('      - {}\n'), 'resources[0].providers[0]: Invalid value: provider does not contain any of the expected providers'],
    ['a KMS provider', config('      - kms:\n          apiVersion: v2\n          name: vault\n          endpoint: unix:///run/kms.sock\n'), 'resources[0].providers[0].kms: Forbidden: KMS providers are not supported by k8ts'],
    ['capital letters', config('      - identity: {}\n', ['Secrets']), 'resources[0].resources[0]: Invalid value: "Secrets": resource name should not contain capital letters'],
    ['a bare star', config('      - identity: {}\n', ['*']), `resources[0].resources[0]: Invalid value: "*": use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources`],
    ['the events.k8s.io group', config('      - identity: {}\n', ['events.events.k8s.io']), "Use 'events' instead in the config file"],
    ['a duplicate', config('      - identity: {}\n', ['secrets', 'secrets']), 'resources[0].resources: Invalid value: []string{"secrets", "secrets"}: the same resource cannot be specified multiple times'],
    ['an overlap in one list', config('      - identity: {}\n', ['secrets', '*.']), "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed"],
  ];
  for (const [what, text, want] of cases) {
    it(`refuses ${what}`, () => {
      let err: unknown;
      try {
        load(text);
      } catch (e) {
        err = e;
      }
      expect(err, 'expected an EncryptionConfigError').toBeInstanceOf(EncryptionConfigError);
      expect((err as Error).message).toMatch(/^error while parsing file: /);
      if (typeof want === 'string') expect((err as Error).message).toContain(want);
      else expect((err as Error).message).toMatch(want);
      // Never the key material itself.
      expect((err as Error).message).not.toContain(k32.toString('base64'));
    });
  }

  it('refuses a rule masked by an earlier wildcard', () => {
    const text = `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: ['*.apps']\n    providers: [{identity: {}}]\n  - resources: ['deployments.apps']\n    providers: [{identity: {}}]\n`;
    expect(() => load(text)).toThrow('error while building transformers: resource "deployments.apps" is masked by earlier rule "*.apps"');
  });

  it('a missing file is an error naming it', () => {
    expect(() => loadEncryptionConfig('/nonexistent/enc.yaml')).toThrow(/error reading encryption provider configuration file "\/nonexistent\/enc.yaml"/);
  });

  it('JSON works as well as YAML, and the generated configuration is valid', () => {
    const json = JSON.stringify({ apiVersion: 'apiserver.config.k8s.io/v1', kind: 'EncryptionConfiguration', resources: [{ resources: ['secrets'], providers: [{ aesgcm: { keys: [{ name: 'a', secret: k32.toString('base64') }] } }] }] });
    expect(load(json).forResource('', 'secrets').toStorage(PLAIN, KEY).startsWith('k8s:enc:aesgcm:v1:a:')).toBe(true);
    const gen = load(generatedEncryptionConfig('secretbox', k32)).forResource('', 'secrets');
    expect(gen.toStorage(PLAIN, KEY).startsWith('k8s:enc:secretbox:v1:key1:')).toBe(true);
    expect(gen.fromStorage(PLAIN, KEY)).toEqual({ value: PLAIN, stale: true }); // identity fallback
  });
});

describe('EncryptionConfiguration: which resources a rule covers', () => {
  const s = (name: string) => keyYaml('aescbc', [[name, randomBytes(32)]]);
  const text = `apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [events]\n    providers: [{identity: {}}]\n  - resources: [secrets, configmaps, pandas.awesome.bears.example]\n    providers:\n${s('one')}  - resources: ['*.apps']\n    providers:\n${s('two')}  - resources: ['*.*']\n    providers:\n${s('three')}`;
  const rt: ResourceTransformers = load(text);
  const keyName = (key: string) => {
    const t = rt.forKey(key);
    return t === identity ? 'identity' : (t.toStorage('{}', key).match(/^k8s:enc:aescbc:v1:(\w+):/)?.[1] ?? 'plain');
  };
  it('exact names first, then *.<group>, then *.*; store keys name the group (core) and resource', () => {
    expect(keyName('/registry/core/secrets/default/a')).toBe('one');
    expect(keyName('/registry/core/configmaps/default/a')).toBe('one');
    expect(keyName('/registry/awesome.bears.example/pandas/default/a')).toBe('one');
    expect(keyName('/registry/apps/deployments/default/a')).toBe('two');
    expect(keyName('/registry/core/pods/default/a')).toBe('three');
    expect(keyName('/registry/core/events/default/a')).toBe('plain'); // identity listed: stored as is
    expect(keyName('/elsewhere')).toBe('identity');
  });
  it('without a rule a resource is stored as is', () => {
    const only = load(config(keyYaml('aescbc', [['k', randomBytes(32)]])));
    expect(only.forKey('/registry/core/configmaps/default/a')).toBe(identity);
    expect(only.forKey('/registry/core/secrets/default/a')).not.toBe(identity);
  });
});

describe('the encrypting Store', () => {
  const secret = randomBytes(32);
  const rt = load(config(keyYaml('aescbc', [['key1', secret]]) + '      - identity: {}\n'));

  it('encrypts Secrets on the way down; get, list, delete and watch (with prevKv) see plaintext; ConfigMaps pass as they are', async () => {
    const raw = new MemStore();
    const store = encryptingStore(raw, rt);
    const events: WatchEvent[] = [];
    const w = store.watch('/registry/core/', 0, (e) => events.push(e));
    const cm = '{"kind":"ConfigMap","data":{"a":"b"}}';
    const created = await store.create(KEY, PLAIN);
    expect(created.value).toBe(PLAIN);
    await store.create('/registry/core/configmaps/default/c', cm);
    expect((await raw.get(KEY))!.value.startsWith('k8s:enc:aescbc:v1:key1:')).toBe(true);
    expect((await raw.get(KEY))!.value).not.toContain('c2VjcmV0LXZhbHVl');
    expect((await raw.get('/registry/core/configmaps/default/c'))!.value).toBe(cm);
    expect((await store.get(KEY))!.value).toBe(PLAIN);
    expect((await store.list('/registry/core/')).items.map((i) => i.value)).toEqual([cm, PLAIN]);
    await store.update(KEY, PLAIN.replace('s1', 's1x'));
    expect((await store.delete(KEY)).value).toBe(PLAIN.replace('s1', 's1x'));
    await new Promise((r) => setImmediate(r));
    w.stop();
    expect(events.map((e) => [e.type, e.kv.value, e.prevKv?.value])).toEqual([
      ['PUT', PLAIN, undefined],
      ['PUT', cm, undefined],
      ['PUT', PLAIN.replace('s1', 's1x'), PLAIN],
      ['DELETE', PLAIN.replace('s1', 's1x'), PLAIN.replace('s1', 's1x')],
    ]);
  });

  it('a Secret stored before encryption reads through identity and is marked stale; written, it is encrypted', async () => {
    const raw = new MemStore();
    await raw.create(KEY, PLAIN);
    const store = encryptingStore(raw, rt);
    expect(await store.get(KEY)).toMatchObject({ value: PLAIN, stale: true });
    await store.update(KEY, PLAIN);
    expect((await raw.get(KEY))!.value.startsWith('k8s:enc:aescbc:v1:key1:')).toBe(true);
    expect((await store.get(KEY))!.stale).toBeUndefined();
  });

  it('an undecryptable value is an error naming the key on get and list, and ends a watch through onError', async () => {
    const raw = new MemStore();
    const other = encryptingStore(raw, load(config(keyYaml('aescbc', [['key9', randomBytes(32)]]))));
    const store = encryptingStore(raw, rt);
    const errors: Error[] = [];
    const events: WatchEvent[] = [];
    store.watch('/registry/core/secrets/', 0, (e) => events.push(e), (e) => errors.push(e));
    await other.create(KEY, PLAIN);
    await expect(store.get(KEY)).rejects.toThrow(`unable to transform the value of ${KEY} from storage: no matching key was found for the provided AES transformer`);
    await expect(store.list('/registry/core/secrets/')).rejects.toThrow(/no matching key was found/);
    await new Promise((r) => setImmediate(r));
    expect(events).toHaveLength(0);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('no matching key was found')]);
  });

  it('over the real SQLite file: the row holds upstream bytes (a BLOB: prefix, IV, AES-CBC), and the file and its dir are owner-only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-enc-unit-'));
    try {
      const sqlite = new SqliteStore({ dataDir: join(dir, 'data') });
      const store = encryptingStore(sqlite, rt);
      await store.create(KEY, PLAIN);
      expect((await store.get(KEY))!.value).toBe(PLAIN);
      await sqlite.close();
      const db = new Database(join(dir, 'data', 'state.db'), { readonly: true });
      const row = db.prepare('SELECT value FROM log WHERE key = ?').get(KEY) as { value: Buffer };
      db.close();
      expect(Buffer.isBuffer(row.value)).toBe(true);
      const prefix = Buffer.from('k8s:enc:aescbc:v1:key1:');
      expect(row.value.subarray(0, prefix.length).equals(prefix)).toBe(true);
      const body = row.value.subarray(prefix.length);
      const d = createDecipheriv('aes-256-cbc', secret, body.subarray(0, 16));
      expect(Buffer.concat([d.update(body.subarray(16)), d.final()]).toString()).toBe(PLAIN);
      for (const f of ['state.db', 'state.lock']) expect(statSync(join(dir, 'data', f)).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the data dir', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('looser modes left by an older version are tightened at start and each change is logged; other files are left alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-datadir-'));
    dirs.push(dir);
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'pki'), { mode: 0o755 });
    for (const f of ['state.db', 'state.db-wal', 'join-token', 'pki/ca.key', 'pki/ca.crt', 'notes.txt']) writeFileSync(join(dir, f), 'x', { mode: 0o644 });
    chmodSync(join(dir, 'pki'), 0o755);
    const lines: Array<{ path: string; from: string; to: string; msg: string }> = [];
    const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
    secureDataDir(dir, log);
    const mode = (p: string) => statSync(join(dir, p)).mode & 0o777;
    expect(mode('.')).toBe(0o700);
    expect(mode('pki')).toBe(0o700);
    for (const f of ['state.db', 'state.db-wal', 'join-token', 'pki/ca.key', 'pki/ca.crt']) expect(mode(f), f).toBe(0o600);
    expect(mode('notes.txt')).toBe(0o644);
    expect(lines.filter((l) => l.msg.includes('tightened')).map((l) => [l.path.slice(dir.length), l.from, l.to]).sort()).toEqual(
      [['', '0755', '0700'], ['/join-token', '0644', '0600'], ['/pki', '0755', '0700'], ['/pki/ca.crt', '0644', '0600'], ['/pki/ca.key', '0644', '0600'], ['/state.db', '0644', '0600'], ['/state.db-wal', '0644', '0600']].sort(),
    );
    // Run again: nothing left to change, nothing logged.
    lines.length = 0;
    secureDataDir(dir, log);
    expect(lines).toEqual([]);
  });
});

describe('k8ts up and the Vagrant provisioning turn it on', () => {
  const REPO = join(import.meta.dirname, '..', '..');
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const check = (file: string) => {
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    const secret = Buffer.from(text.match(/secret: (\S+)/)![1]!, 'base64');
    expect(secret.length).toBe(32);
    const t = load(text).forKey(KEY);
    expect(t.toStorage(PLAIN, KEY).startsWith('k8s:enc:aescbc:v1:key1:')).toBe(true);
    expect(t.fromStorage(PLAIN, KEY)).toEqual({ value: PLAIN, stale: true }); // identity fallback
    expect(load(text).forKey('/registry/core/configmaps/default/c')).toBe(identity);
    return text;
  };

  it('k8ts up: <data dir>/encryption-config.yaml with a new aescbc key, made once and kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-enc-up-'));
    dirs.push(dir);
    const file = ensureEncryptionConfig(join(dir, 'cp'));
    expect(file).toBe(join(dir, 'cp', 'encryption-config.yaml'));
    const text = check(file);
    expect(readFileSync(ensureEncryptionConfig(join(dir, 'cp')), 'utf8')).toBe(text);
    const other = mkdtempSync(join(tmpdir(), 'k8ts-enc-up-'));
    dirs.push(other);
    expect(readFileSync(ensureEncryptionConfig(other), 'utf8')).not.toBe(text); // a key per cluster
    const local = readFileSync(join(REPO, 'cli', 'cluster', 'local.ts'), 'utf8');
    expect(local).toMatch(/'--encryption-provider-config', encryptionConfig/);
  });

  it('Vagrant: ensure_encryption_config writes the same kind of file once, and the unit passes the flag', () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-enc-vagrant-'));
    dirs.push(dir);
    const file = join(dir, 'encryption-config.yaml');
    const run = () => execFileSync('bash', ['-c', `. ${join(REPO, 'scripts', 'vagrant', 'lib.sh')}; ensure_encryption_config ${file}`]);
    run();
    const text = check(file);
    run();
    expect(readFileSync(file, 'utf8')).toBe(text);
    const cp = readFileSync(join(REPO, 'scripts', 'provision-cp.sh'), 'utf8');
    expect(cp).toContain('ensure_encryption_config "$DATA_DIR/encryption-config.yaml"');
    expect(cp.split('\n').find((l) => l.startsWith('ExecStart=') && l.includes('control-plane'))).toContain('--encryption-provider-config ${DATA_DIR}/encryption-config.yaml');
  });
});
