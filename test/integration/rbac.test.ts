// RBAC on the real control plane (`k8ts control-plane`, Node,RBAC) with the real kubectl, as
// users minted by `k8ts kubeconfig --user`: who they are (auth whoami), what they may do
// (auth can-i [--list]), escalation prevention with upstream's text, impersonation only with
// the impersonate verb, the reviews' bad input, and the scheduler and controller manager
// running as themselves (system:kube-scheduler, system:kube-controller-manager acting as each
// controller's service account) until their roles are deleted, which their logs say with a 403.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, loadClientConfig } from '../../client/index.js';
import { certClient, type RawClient } from '../helpers/apiclient.js';
import { startTestControlPlane, type KubectlResult, type TestControlPlane } from '../helpers/controlplane.js';
import { startSimNodes, type SimNodes } from '../helpers/simnodes.js';
import { waitFor } from '../helpers/wait.js';
import type { JsonValue } from '../../api/object.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
type Who = 'alice' | 'bob' | 'carol';

function k8ts(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, ['--import', 'tsx', join(REPO, 'cli', 'main.ts'), ...args], { cwd: REPO, timeout: 60_000 }, (err, stdout, stderr) => {
      res({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('RBAC, the reviews and impersonation on the real control plane, with kubectl', () => {
  let cp: TestControlPlane;
  let admin: Client;
  let nodes: SimNodes | undefined;
  const kubeconfigs = {} as Record<Who, string>;
  const as = (who: Who, args: string[], input?: string): Promise<KubectlResult> => cp.kubectl(['--kubeconfig', kubeconfigs[who], ...args], { input });
  const kubectl = async (args: string[], input?: string) => {
    const r = await cp.kubectl(args, { input });
    if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** `kubectl auth can-i` prints yes or no and exits 0 or 1; bindings reach the authorizer through its watch caches. */
  const canI = (who: Who, args: string[], want: 'yes' | 'no') =>
    waitFor(`${who} can-i ${args.join(' ')}: ${want}`, async () => {
      const r = await as(who, ['auth', 'can-i', ...args]);
      return r.stdout.trim() === want && r.exitCode === (want === 'yes' ? 0 : 1) ? r : undefined;
    }, 30_000);

  beforeAll(async () => {
    cp = await startTestControlPlane();
    admin = new Client(loadClientConfig({ kubeconfig: cp.kubeconfigPath }));
    for (const [who, groups] of [['alice', ['devs']], ['bob', []], ['carol', []]] as const) {
      const r = await k8ts(['kubeconfig', '--data-dir', cp.dataDir, '--user', who, ...groups.flatMap((g) => ['--group', g]), '--expiration', '1h']);
      expect(r.code, r.stderr).toBe(0);
      kubeconfigs[who] = join(cp.dataDir, `${who}.kubeconfig`);
      await writeFile(kubeconfigs[who], r.stdout, { mode: 0o600 });
    }
    await kubectl(['create', 'namespace', 'team']);
    // edit and admin get their rules from the aggregation controller (run as its service account)
    await waitFor('edit aggregated', async () => (await admin.clusterroles.get('edit')).rules?.some((r) => r.resources?.includes('deployments')));
  }, 240_000);

  afterAll(async () => {
    await nodes?.close();
    admin?.close();
    await cp?.stop();
  });

  it('auth whoami names the user and its groups from the minted certificate', async () => {
    const a = await as('alice', ['auth', 'whoami']);
    expect(a.stdout).toMatch(/^ATTRIBUTE\s+VALUE\nUsername\s+alice\nGroups\s+\[devs system:authenticated\]\n$/);
    const b = await as('bob', ['auth', 'whoami', '-o', 'json']);
    expect(JSON.parse(b.stdout).status.userInfo).toEqual({ username: 'bob', groups: ['system:authenticated'] });
    // a bad flag is one line, exit 2
    const bad = await k8ts(['kubeconfig', '--data-dir', cp.dataDir, '--group', 'g']);
    expect([bad.code, bad.stderr.trim()]).toEqual([2, 'k8ts kubeconfig: --group needs --user']);
  });

  it("auth can-i answers for each user; can-i --list shows a Role's rules", async () => {
    await canI('alice', ['list', 'pods', '-n', 'team'], 'no');
    await kubectl(['create', 'role', 'pod-reader', '-n', 'team', '--verb=get,list', '--resource=pods']);
    await kubectl(['create', 'rolebinding', 'devs-read', '-n', 'team', '--role=pod-reader', '--group=devs']);
    await kubectl(['create', 'rolebinding', 'bob-edit', '-n', 'team', '--clusterrole=edit', '--user=bob']);
    await canI('alice', ['list', 'pods', '-n', 'team'], 'yes');
    await canI('alice', ['delete', 'pods', '-n', 'team'], 'no');
    await canI('alice', ['list', 'pods', '-n', 'default'], 'no');
    await canI('bob', ['create', 'deployments.apps', '-n', 'team'], 'yes');
    await canI('bob', ['list', 'pods', '-n', 'team'], 'yes');
    await canI('bob', ['create', 'rolebindings', '-n', 'team'], 'no');
    await canI('carol', ['list', 'pods', '-n', 'team'], 'no');
    // the real thing agrees with the review
    expect((await as('alice', ['get', 'pods', '-n', 'team'])).exitCode).toBe(0);
    expect((await as('alice', ['get', 'pods', '-n', 'default'])).stderr.trim()).toBe(
      'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"',
    );
    const list = await as('alice', ['auth', 'can-i', '--list', '-n', 'team']);
    expect(list.exitCode).toBe(0);
    const lines = list.stdout.split('\n').map((l) => l.trim().split(/\s{2,}/));
    expect(lines[0]).toEqual(['Resources', 'Non-Resource URLs', 'Resource Names', 'Verbs']);
    expect(lines).toContainEqual(['pods', '[]', '[]', '[get list]']);
    expect(lines).toContainEqual(['selfsubjectaccessreviews.authorization.k8s.io', '[]', '[]', '[create]']);
    expect(lines).toContainEqual(['[/api/*]', '[]', '[get]']);
    expect(lines.some((l) => l[0] === 'deployments.apps')).toBe(false);
    // a SubjectAccessReview (as the admin) asks about someone else
    const sar = JSON.parse(
      await kubectl(['create', '-o', 'json', '-f', '-'], JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'bob', resourceAttributes: { namespace: 'team', verb: 'create', group: 'apps', resource: 'deployments' } } })),
    );
    expect(sar.status).toEqual({ allowed: true, reason: 'RBAC: allowed by RoleBinding "bob-edit/team" of ClusterRole "edit" to User "bob"' });
  });

  it('a user with edit cannot bind cluster-admin, nor one with admin (upstream\'s escalation text); nothing is stored', async () => {
    const grab = ['create', 'rolebinding', 'grab', '-n', 'team', '--clusterrole=cluster-admin'];
    expect((await as('bob', [...grab, '--user=bob'])).stderr.trim()).toBe(
      'error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "team"',
    );
    await kubectl(['create', 'rolebinding', 'carol-admin', '-n', 'team', '--clusterrole=admin', '--user=carol']);
    await canI('carol', ['create', 'rolebindings', '-n', 'team'], 'yes');
    const r = await as('carol', [...grab, '--user=carol']);
    expect(r.stderr.trim()).toBe(
      'error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "grab" is forbidden: user "carol" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}',
    );
    expect((await cp.kubectl(['get', 'rolebinding', 'grab', '-n', 'team'])).stderr).toContain('rolebindings.rbac.authorization.k8s.io "grab" not found');
    // what she holds she may grant; a role with more than she holds she may not write
    expect((await as('carol', ['create', 'rolebinding', 'bob-view', '-n', 'team', '--clusterrole=view', '--user=bob'])).exitCode).toBe(0);
    const role = await as('carol', ['create', 'role', 'nodes-too', '-n', 'team', '--verb=get', '--resource=pods,nodes']);
    expect(role.stderr).toContain('roles.rbac.authorization.k8s.io "nodes-too" is forbidden: user "carol" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}');
    expect(JSON.parse(await kubectl(['get', 'roles', '-n', 'team', '-o', 'json'])).items.map((x: JsonValue) => x.metadata.name)).toEqual(['pod-reader']);
    // -o wide shows the subjects, as upstream's printer
    expect(await kubectl(['get', 'rolebinding', 'bob-edit', '-n', 'team', '-o', 'wide'])).toMatch(/^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS\nbob-edit\s+ClusterRole\/edit\s+\S+\s+bob\s*\n$/);
  });

  it('impersonation works only with the impersonate verb, and only for what it names', async () => {
    expect((await as('alice', ['get', 'pods', '-n', 'team', '--as', 'bob'])).stderr.trim()).toBe(
      'Error from server (Forbidden): users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
    // whoami hides a 403 behind its own words
    expect((await as('alice', ['auth', 'whoami', '--as', 'bob'])).stderr.trim()).toBe('error: the selfsubjectreviews API is not enabled in the cluster or you do not have permission to call it');
    await kubectl(['create', 'clusterrole', 'impersonate-bob', '--verb=impersonate', '--resource=users', '--resource-name=bob']);
    await kubectl(['create', 'clusterrolebinding', 'alice-impersonates-bob', '--clusterrole=impersonate-bob', '--user=alice']);
    await waitFor('alice acts as bob', async () => (await as('alice', ['auth', 'whoami', '--as', 'bob'])).stdout.includes('Username    bob'), 30_000);
    expect((await as('alice', ['auth', 'whoami', '--as', 'bob'])).stdout).toMatch(/Username\s+bob\nGroups\s+\[system:authenticated\]/);
    // as bob she has bob's rights, and only his
    expect((await as('alice', ['auth', 'can-i', 'create', 'deployments.apps', '-n', 'team', '--as', 'bob'])).stdout.trim()).toBe('yes');
    expect((await as('alice', ['get', 'pods', '-n', 'default', '--as', 'bob'])).stderr).toContain('User "bob" cannot list resource "pods"');
    expect((await as('alice', ['get', 'pods', '-n', 'team', '--as', 'carol'])).stderr).toContain('users "carol" is forbidden: User "alice" cannot impersonate resource "users"');
    expect((await as('alice', ['get', 'pods', '-n', 'team', '--as', 'bob', '--as-group', 'system:masters'])).stderr).toContain(
      'groups "system:masters" is forbidden: User "alice" cannot impersonate resource "groups" in API group "" at the cluster scope',
    );
    // the admin (system:masters) may impersonate anyone, a service account with its groups
    expect(JSON.parse(await kubectl(['auth', 'whoami', '--as', 'system:serviceaccount:team:builder', '-o', 'json'])).status.userInfo).toEqual({
      username: 'system:serviceaccount:team:builder',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:team', 'system:authenticated'],
    });
  });

  it('refuses bad reviews, bad impersonation and paths it does not grant with clear 4xx', async () => {
    const alice: RawClient = await certClient(cp, 'alice', ['devs']);
    try {
      const post = (path: string, body: unknown, headers?: Record<string, string>) => alice.request('POST', path, body as object, headers);
      const ssar = await post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: {} });
      expect([ssar.status, ssar.json().message]).toEqual([
        422,
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified',
      ]);
      const ssrr = await post('/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: {} });
      expect([ssrr.status, ssrr.json().message]).toEqual([400, 'no namespace on request']);
      const list = await alice.request('GET', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews');
      expect([list.status, list.json().reason]).toEqual([405, 'MethodNotAllowed']);
      // reviews of others need their own grant
      const sar = await post('/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'bob', resourceAttributes: { verb: 'get', resource: 'pods' } } });
      expect([sar.status, sar.json().message]).toEqual([403, 'subjectaccessreviews.authorization.k8s.io is forbidden: User "alice" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope']);
      const groupsAlone = await alice.request('GET', '/api/v1/namespaces/team/pods', undefined, { 'Impersonate-Group': 'system:masters' });
      expect([groupsAlone.status, groupsAlone.json().message]).toEqual([400, 'requested [Group "system:masters"] without impersonating a user']);
      const metrics = await alice.request('GET', '/metrics');
      expect([metrics.status, metrics.json().message]).toEqual([403, 'forbidden: User "alice" cannot get path "/metrics"']);
      // discovery is everyone's (system:discovery)
      expect((await alice.request('GET', '/apis/rbac.authorization.k8s.io/v1')).json().resources.map((r: JsonValue) => r.name)).toEqual(['clusterrolebindings', 'clusterroles', 'rolebindings', 'roles']);
    } finally {
      alice.close();
    }
    const badRef = await cp.kubectl(['create', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'bad', namespace: 'team' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Pod', name: 'x' } }),
    });
    expect(badRef.stderr.trim()).toBe('The RoleBinding "bad" is invalid: roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole"');
  });

  it('the scheduler and controller manager work as themselves, and log a 403 once their ClusterRole is gone', async () => {
    nodes = await startSimNodes({ client: admin, count: 1, leaseIntervalMs: 1000 });
    await kubectl(['create', 'namespace', 'work']);
    const rc = (name: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ReplicationController',
        metadata: { name, namespace: 'work' },
        spec: { replicas: 2, selector: { app: name }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } },
      });
    const scheduled = (app: string) =>
      waitFor(`${app}: 2 pods bound`, async () => {
        const pods = (await admin.pods.namespace('work').list({ labelSelector: `app=${app}` })).items;
        return pods.length === 2 && pods.every((p) => p.spec?.nodeName === nodes!.names[0]);
      }, 60_000);
    await kubectl(['create', '-f', '-'], rc('web'));
    await scheduled('web');
    const leases = await admin.leases.namespace('kube-system').list();
    expect(leases.items.map((l) => l.metadata?.name).sort()).toEqual(['kube-controller-manager', 'kube-scheduler']);
    // nothing was refused to them so far
    const refusal = /is forbidden: User "system:(kube-scheduler|kube-controller-manager|serviceaccount:kube-system:[a-z-]+)"/;
    expect(cp.log()).not.toMatch(refusal);

    // a controller acts as its service account: without its role, its writes are refused
    await kubectl(['delete', 'clusterrole', 'system:controller:replication-controller']);
    await kubectl(['create', '-f', '-'], rc('api'));
    // (its status update, after the refused pod creates, is refused the same way)
    await waitFor('the replication controller refused', () =>
      /User \\"system:serviceaccount:kube-system:replication-controller\\" cannot \w+ resource \\"[a-z/]+\\" in API group \\"\\" in the namespace \\"work\\": RBAC: clusterrole\.rbac\.authorization\.k8s\.io \\"system:controller:replication-controller\\" not found/.test(cp.log()),
    );
    expect((await admin.pods.namespace('work').list({ labelSelector: 'app=api' })).items).toEqual([]);
    // the scheduler and the manager themselves: their leases go first
    await kubectl(['delete', 'clusterrole', 'system:kube-scheduler', 'system:kube-controller-manager']);
    for (const who of ['kube-scheduler', 'kube-controller-manager']) {
      await waitFor(`${who} refused its lease`, () =>
        cp.log().includes(
          `error retrieving resource lock kube-system/${who}: leases.coordination.k8s.io \\"${who}\\" is forbidden: User \\"system:${who}\\" cannot get resource \\"leases\\" in API group \\"coordination.k8s.io\\" in the namespace \\"kube-system\\": RBAC: clusterrole.rbac.authorization.k8s.io \\"system:${who}\\" not found`,
        ),
      );
    }
    // the next start reconciles the bootstrap policy: the roles are back, and so is the work
    await cp.restart();
    await scheduled('api');
  }, 240_000);
});
