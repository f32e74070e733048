// Volume path rules as upstream's pkg/apis/core/validation: item paths, subPath,
// subPathExpr, hostPath and modes, with upstream's field paths and texts.
import { describe, expect, it } from 'vitest';
import { findResource } from '../../api/resources.js';
import { invalid } from '../../api/status.js';
import type { KObject } from '../../api/registry.js';

const pods = findResource('', 'v1', 'pods')!;

function messages(spec: object): string[] {
  const o = JSON.parse(JSON.stringify({ metadata: { name: 'p', namespace: 'default' }, spec })) as KObject;
  pods.defaults(o);
  return pods.validate(o).map((e) => e.message);
}

const withMount = (mount: object, volume: object = { name: 'v', emptyDir: {} }) => ({
  containers: [{ name: 'c', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/data', ...mount }] }],
  volumes: [volume],
});

const withVolume = (volume: object) => ({ containers: [{ name: 'c', image: 'busybox' }], volumes: [{ name: 'v', ...volume }] });

describe('volumeMounts subPath and subPathExpr', () => {
  it('rejects backsteps and absolute paths with upstream field paths', () => {
    expect(messages(withMount({ subPath: '../x' }))).toEqual([`spec.containers[0].volumeMounts.subPath: Invalid value: "../x": must not contain '..'`]);
    expect(messages(withMount({ subPath: 'a/../../b' }))).toEqual([`spec.containers[0].volumeMounts.subPath: Invalid value: "a/../../b": must not contain '..'`]);
    expect(messages(withMount({ subPath: '/etc' }))).toEqual(['spec.containers[0].volumeMounts.subPath: Invalid value: "/etc": must be a relative path']);
    expect(messages(withMount({ subPathExpr: '$(POD_NAME)/..' }))).toEqual([`spec.containers[0].volumeMounts.subPathExpr: Invalid value: "$(POD_NAME)/..": must not contain '..'`]);
    expect(messages(withMount({ subPathExpr: '/$(POD_NAME)' }))).toEqual(['spec.containers[0].volumeMounts.subPathExpr: Invalid value: "/$(POD_NAME)": must be a relative path']);
  });

  it('accepts descending paths, names that merely start with dots, and relative mountPaths (the kubelet roots them)', () => {
    expect(messages(withMount({ subPath: 'a/b/c' }))).toEqual([]);
    expect(messages(withMount({ subPath: '..data/x' }))).toEqual([]);
    expect(messages(withMount({ subPathExpr: '$(POD_NAME)' }))).toEqual([]);
    expect(messages(withMount({ mountPath: 'data' }))).toEqual([]);
  });

  it('subPath and subPathExpr are mutually exclusive', () => {
    expect(messages(withMount({ subPath: 'a', subPathExpr: 'b' }))).toEqual(['spec.containers[0].volumeMounts[0].subPathExpr: Invalid value: "b": subPathExpr and subPath are mutually exclusive']);
  });

  it('applies to init containers and pod templates as well', () => {
    const spec = { initContainers: [{ name: 'i', image: 'busybox', volumeMounts: [{ name: 'v', mountPath: '/d', subPath: '../../' }] }], ...withVolume({ emptyDir: {} }) };
    expect(messages(spec)).toEqual([`spec.initContainers[0].volumeMounts.subPath: Invalid value: "../../": must not contain '..'`]);
    const deploy = findResource('apps', 'v1', 'deployments')!;
    const d = JSON.parse(
      JSON.stringify({
        metadata: { name: 'd', namespace: 'default' },
        spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: withMount({ subPath: '/abs' }) } },
      }),
    ) as KObject;
    deploy.defaults(d);
    expect(deploy.validate(d).map((e) => e.message)).toEqual(['spec.template.spec.containers[0].volumeMounts.subPath: Invalid value: "/abs": must be a relative path']);
  });

  it('mountPropagation and recursiveReadOnly values', () => {
    expect(messages(withMount({ mountPropagation: 'Sideways' }))).toEqual([
      'spec.containers[0].volumeMounts.mountPropagation: Unsupported value: "Sideways": supported values: "Bidirectional", "HostToContainer", "None"',
    ]);
    expect(messages(withMount({ mountPropagation: 'Bidirectional' }))).toEqual(['spec.containers[0].volumeMounts.mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers']);
    expect(messages(withMount({ recursiveReadOnly: 'Enabled' }))).toEqual(['spec.containers[0].volumeMounts.recursiveReadOnly: Forbidden: may only be specified when readOnly is true']);
  });

  it('a non-string subPath is a 422, never coerced', () => {
    expect(messages(withMount({ subPath: ['..'] }))).toEqual(['spec.containers[0].volumeMounts[0].subPath: Invalid value: []string{".."}: must be a string']);
  });
});

describe('item paths of configMap, secret, downwardAPI and projected volumes', () => {
  it('configMap items: relative, no backsteps, not starting with ..', () => {
    const cm = (path: string) => withVolume({ configMap: { name: 'cfg', items: [{ key: 'k', path }] } });
    expect(messages(cm('../../../etc/cron.d/x'))).toEqual([`spec.volumes[0].configMap.items[0].path: Invalid value: "../../../etc/cron.d/x": must not contain '..'`]);
    expect(messages(cm('/etc/passwd'))).toEqual(['spec.volumes[0].configMap.items[0].path: Invalid value: "/etc/passwd": must be a relative path']);
    expect(messages(cm('..data'))).toEqual([`spec.volumes[0].configMap.items[0].path: Invalid value: "..data": must not start with '..'`]);
    expect(messages(cm('conf/app.ini'))).toEqual([]);
  });

  it('key and path are required; modes are octal 0..0777', () => {
    expect(messages(withVolume({ secret: { secretName: 's', items: [{ key: '', path: '' }], defaultMode: 1024 } }))).toEqual([
      'spec.volumes[0].secret.defaultMode: Invalid value: 1024: must be a number between 0 and 0777 (octal), both inclusive',
      'spec.volumes[0].secret.items[0].key: Required value',
      'spec.volumes[0].secret.items[0].path: Required value',
    ]);
    expect(messages(withVolume({ secret: { secretName: 's', items: [{ key: 'k', path: 'p', mode: -1 }] } }))).toEqual([
      'spec.volumes[0].secret.items[0].mode: Invalid value: -1: must be a number between 0 and 0777 (octal), both inclusive',
    ]);
  });

  it('downwardAPI items are reported under the source, as upstream does', () => {
    expect(messages(withVolume({ downwardAPI: { items: [{ path: '../name', fieldRef: { fieldPath: 'metadata.name' } }] } }))).toEqual([
      `spec.volumes[0].downwardAPI.path: Invalid value: "../name": must not contain '..'`,
    ]);
    expect(messages(withVolume({ downwardAPI: { items: [{ path: 'x' }] } }))).toEqual(['spec.volumes[0].downwardAPI: Required value: one of fieldRef and resourceFieldRef is required']);
  });

  it('projected sources: item paths, duplicates, token path and expiry', () => {
    expect(
      messages(
        withVolume({
          projected: {
            sources: [
              { configMap: { name: 'a', items: [{ key: 'k', path: 'same' }] } },
              { secret: { name: 'b', items: [{ key: 'k', path: 'same' }, { key: 'j', path: '/abs' }] } },
              { serviceAccountToken: { path: '../token', expirationSeconds: 60 } },
            ],
          },
        }),
      ),
    ).toEqual([
      'spec.volumes[0].projected: Invalid value: "b": conflicting duplicate paths',
      'spec.volumes[0].projected.sources[1].secret.items[1].path: Invalid value: "/abs": must be a relative path',
      'spec.volumes[0].projected.sources[2].serviceAccountToken.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes',
      `spec.volumes[0].projected.path: Invalid value: "../token": must not contain '..'`,
    ]);
  });

  it('hostPath: no backsteps, known types', () => {
    expect(messages(withVolume({ hostPath: { path: '/var/../etc' } }))).toEqual([`spec.volumes[0].hostPath.path: Invalid value: "/var/../etc": must not contain '..'`]);
    expect(messages(withVolume({ hostPath: { path: '/var', type: 'Symlink' } }))).toEqual([
      'spec.volumes[0].hostPath.type: Unsupported value: "Symlink": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"',
    ]);
  });

  it('the apiserver answers with one Status naming the field', () => {
    const o = JSON.parse(JSON.stringify({ metadata: { name: 'p', namespace: 'default' }, spec: withMount({ subPath: '../x' }) })) as KObject;
    pods.defaults(o);
    const st = invalid(pods.kind, 'p', pods.validate(o), pods.group);
    expect(st.code).toBe(422);
    expect(st.body.message).toBe(`Pod "p" is invalid: spec.containers[0].volumeMounts.subPath: Invalid value: "../x": must not contain '..'`);
  });
});
