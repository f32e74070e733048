// Static checks of the Vagrant cluster definition and its provisioning scripts: the shell
// parses, the topology is the documented one, and every component is told the
// private-network address (the VirtualBox NAT address 10.0.2.15 is shared by all VMs).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (p: string) => fs.readFileSync(path.join(root, p), 'utf8');
const scripts = [
  'scripts/provision-common.sh',
  'scripts/provision-cp.sh',
  'scripts/provision-node.sh',
  'scripts/vagrant/lib.sh',
  'scripts/vagrant/deploy-guestbook.sh',
];

describe('Vagrantfile and provisioning', () => {
  it('every provisioning script is valid bash', () => {
    for (const s of scripts) {
      expect(() => execFileSync('bash', ['-n', path.join(root, s)], { stdio: 'pipe' }), s).not.toThrow();
    }
  });

  it('defines cp and two workers on 192.168.56.0/24 with both providers', () => {
    const v = read('Vagrantfile');
    expect(v).toContain("config.vm.box = 'debian/bookworm64'");
    for (const [name, ip] of [['cp', '192.168.56.10'], ['node-1', '192.168.56.11'], ['node-2', '192.168.56.12']]) {
      expect(v).toMatch(new RegExp(`name: '${name}',\\s+ip: ${ip === '192.168.56.10' ? 'CP_IP' : `'${ip}'`}`));
    }
    expect(v).toContain("CP_IP = '192.168.56.10'");
    expect(v).toContain('config.vm.provider :virtualbox');
    expect(v).toContain('config.vm.provider :libvirt');
    expect(v).toContain('scripts/provision-common.sh');
    expect(v).toContain('scripts/provision-cp.sh');
    expect(v).toContain('scripts/provision-node.sh');
  });

  it('the control plane binds and advertises the private address, the agent uses it as node IP', () => {
    const cp = read('scripts/provision-cp.sh');
    const exec = cp.split('\n').find((l) => l.startsWith('ExecStart=') && l.includes('control-plane'));
    expect(exec).toBeDefined();
    expect(exec).toContain('--advertise-address ${CP_IP}');
    expect(exec).toContain('--bind-address ${CP_IP}');
    expect(cp).toContain('addr: ${CP_IP}:5000'); // registry on the private address only

    const node = read('scripts/provision-node.sh');
    const agent = node.split('\n').find((l) => l.startsWith('ExecStart=') && l.includes(' agent '));
    expect(agent).toBeDefined();
    for (const flag of ['--node-name ${NODE_NAME}', '--server ${K8TS_APISERVER}', '--token-file /var/lib/k8ts/join-token', '--discovery-token-ca-cert-hash ${K8TS_CA_CERT_HASH}', '--runtime-endpoint', '--node-ip ${NODE_IP}', '--address ${NODE_IP}']) {
      expect(agent, flag).toContain(flag);
    }
    // the token never on a command line, nor in an environment the unit hands to the agent
    expect(agent).not.toMatch(/--token[ =]/);
    expect(node).not.toContain('EnvironmentFile=');
    // the CA key goes to cp only, and is not copied into the VMs' /vagrant
    const v = read('Vagrantfile');
    expect(v).toContain("cp_env = env.merge('K8TS_CA_CRT' => CA[:crt], 'K8TS_CA_KEY' => CA[:key])");
    expect(v).toMatch(/PROVISION_ENV = \{[^}]*'K8TS_CA_CERT_HASH' => CA\[:hash\]/);
    expect(v).not.toMatch(/PROVISION_ENV = \{[^}]*K8TS_CA_KEY/);
    expect(v).toContain("'.k8ts/pki/'");
    expect(read('scripts/vagrant/lib.sh')).toContain('K8TS_APISERVER="https://${K8TS_CP_IP}:6443"');
  });

  it('10.0.2.15 appears only in comments and in the refusal check', () => {
    for (const s of [...scripts, 'Vagrantfile']) {
      for (const line of read(s).split('\n')) {
        if (!/10\.0\.2\./.test(line)) continue;
        const code = line.replace(/^\s*#.*$/, '');
        expect(code === '' || /10\.0\.2\.\*\) die/.test(code), `${s}: ${line}`).toBe(true);
      }
    }
  });

  it('containerd on the workers mirrors docker.io and registry.k8s.io to the cp registry', () => {
    const node = read('scripts/provision-node.sh');
    expect(node).toContain('for reg in docker.io registry.k8s.io');
    expect(node).toContain('[host."http://${K8TS_REGISTRY}"]');
    expect(node).toContain('config_path = "/etc/containerd/certs.d"');
    expect(read('scripts/vagrant/lib.sh')).toContain('K8TS_REGISTRY="${K8TS_CP_IP}:5000"');
  });

  it('the last step deploys the guestbook and prints the NodePort URL', () => {
    expect(read('Vagrantfile')).toContain('scripts/vagrant/deploy-guestbook.sh');
    const deploy = read('scripts/vagrant/deploy-guestbook.sh');
    expect(deploy).toContain('curl http://192.168.56.11:30001');
    expect(deploy).toContain('examples/guestbook');
  });
});
