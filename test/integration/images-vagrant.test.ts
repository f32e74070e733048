// `vagrant validate` on the Vagrantfile, without any hypervisor: run in a temp copy so the
// secrets it generates (.k8ts/) and .vagrant/ never land in the work tree.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { caCertHash } from '../../api/csr.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let haveVagrant = false;
try {
  execFileSync('vagrant', ['--version'], { stdio: 'pipe' });
  haveVagrant = true;
} catch {
  console.warn('images-vagrant: skipped, vagrant is not installed');
}

describe.skipIf(!haveVagrant)('vagrant validate', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'k8ts-vagrant-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('passes with --ignore-provider and makes a kubeadm-shaped join token and the cluster CA', () => {
    fs.copyFileSync(path.join(root, 'Vagrantfile'), path.join(dir, 'Vagrantfile'));
    fs.cpSync(path.join(root, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
    const out = execFileSync('vagrant', ['validate', '--ignore-provider'], {
      cwd: dir,
      env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1' },
      encoding: 'utf8',
    });
    expect(out).toContain('Vagrantfile validated successfully.');
    const token = fs.readFileSync(path.join(dir, '.k8ts', 'join-token'), 'utf8').trim();
    expect(token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect((fs.statSync(path.join(dir, '.k8ts', 'join-token')).mode & 0o077)).toBe(0);
    // the cluster CA made on the host, its key private; the pin is kubeadm's hash of it
    const caPem = fs.readFileSync(path.join(dir, '.k8ts', 'pki', 'ca.crt'), 'utf8');
    expect(new X509Certificate(caPem).ca).toBe(true);
    expect(fs.statSync(path.join(dir, '.k8ts', 'pki', 'ca.key')).mode & 0o077).toBe(0);
    const hash = caCertHash(caPem);

    // A second load keeps the same token (the workers of a running cluster depend on it).
    execFileSync('vagrant', ['validate', '--ignore-provider'], { cwd: dir, env: { ...process.env, VAGRANT_CHECKPOINT_DISABLE: '1' } });
    expect(fs.readFileSync(path.join(dir, '.k8ts', 'join-token'), 'utf8').trim()).toBe(token);
    expect(caCertHash(fs.readFileSync(path.join(dir, '.k8ts', 'pki', 'ca.crt'), 'utf8'))).toBe(hash);
  });
});
