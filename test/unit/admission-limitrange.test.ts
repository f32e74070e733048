// LimitRange (api/limitrange.ts): its defaulting and validation, and LimitRanger's defaults
// and bounds for pods, with upstream's messages.
import { describe, expect, it } from 'vitest';
import { aggregate, applyLimitRangeDefaults, defaultLimitRange, limitRangeViolations, validateLimitRange } from '../../api/limitrange.js';
import type { KObject } from '../../api/registry.js';

const lr = (limits: KObject[]): KObject => ({ metadata: { name: 'lr', namespace: 'ns' }, spec: { limits } });
const pod = (containers: KObject[], initContainers: KObject[] = []): KObject => ({ metadata: { name: 'p' }, spec: { containers, initContainers } });
const c = (name: string, requests?: KObject, limits?: KObject): KObject => ({ name, resources: { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) } });

describe('LimitRange defaulting', () => {
  it('a Container item defaults default from max, defaultRequest from default then min; quantities canonical', () => {
    const r = lr([{ type: 'Container', max: { cpu: '1000m', memory: '1Gi' }, min: { memory: '64Mi', cpu: '0.05' } }, { type: 'Pod', max: { cpu: '2' } }]);
    defaultLimitRange(r);
    expect(r.spec.limits[0]).toEqual({
      type: 'Container',
      max: { cpu: '1', memory: '1Gi' },
      min: { memory: '64Mi', cpu: '50m' },
      default: { cpu: '1', memory: '1Gi' },
      defaultRequest: { cpu: '1', memory: '1Gi' },
    });
    expect(r.spec.limits[1]).toEqual({ type: 'Pod', max: { cpu: '2' } });
  });
});

describe('LimitRange validation', () => {
  const v = (limits: KObject[]) => validateLimitRange(lr(limits)).map((e) => e.message);
  it.each<[string, KObject[], string[]]>([
    ['valid', [{ type: 'Container', max: { cpu: '1' }, min: { cpu: '100m' }, default: { cpu: '500m' }, defaultRequest: { cpu: '200m' }, maxLimitRequestRatio: { cpu: '5' } }], []],
    ['min over max', [{ type: 'Container', max: { cpu: '100m' }, min: { cpu: '200m' } }], ['spec.limits[0].min[cpu]: Invalid value: "200m": min value 200m is greater than max value 100m']],
    ['default over max', [{ type: 'Container', max: { cpu: '1' }, default: { cpu: '2' } }], ['spec.limits[0].default[cpu]: Invalid value: "1": default value 2 is greater than max value 1']],
    [
      'defaultRequest over default',
      [{ type: 'Container', default: { memory: '1Gi' }, defaultRequest: { memory: '2Gi' } }],
      ['spec.limits[0].defaultRequest[memory]: Invalid value: "2Gi": default request value 2Gi is greater than default limit value 1Gi'],
    ],
    ['ratio below 1', [{ type: 'Container', maxLimitRequestRatio: { cpu: '500m' } }], ['spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less than 1']],
    ['ratio over max/min', [{ type: 'Container', max: { cpu: '1' }, min: { cpu: '500m' }, maxLimitRequestRatio: { cpu: '3' } }], ['spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "3": ratio 3 is greater than max/min = 2.000000']],
    ['defaults on a Pod item', [{ type: 'Pod', default: { cpu: '1' } }], ["spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"]],
    ['duplicate type', [{ type: 'Pod', max: { cpu: '1' } }, { type: 'Pod', max: { cpu: '2' } }], ['spec.limits[1].type: Duplicate value: "Pod"']],
    ['unknown type', [{ type: 'Node', max: { cpu: '1' } }], ['spec.limits[0].type: Invalid value: "Node": must be a standard limit type or fully qualified']],
    ['a container resource name that is not one', [{ type: 'Container', max: { pods: '1' } }], ['spec.limits[0].max[pods]: Invalid value: "pods": must be a standard resource for containers']],
    ['claim without storage', [{ type: 'PersistentVolumeClaim', max: { cpu: '1' } }], ['spec.limits[0].limits: Required value: either minimum or maximum storage value is required, but neither was provided']],
  ])('%s', (_what, limits, want) => expect(v(limits)).toEqual(want));
});

describe('LimitRanger on a pod', () => {
  const range = lr([
    { type: 'Container', max: { cpu: '500m' }, min: { cpu: '50m' }, default: { cpu: '400m', memory: '256Mi' }, defaultRequest: { cpu: '100m' }, maxLimitRequestRatio: { cpu: '4' } },
    { type: 'Pod', max: { cpu: '1' } },
  ]);

  it('fills in missing requests and limits per container and says what it set', () => {
    const p = pod([c('a'), c('b', { cpu: '200m' }, { memory: '128Mi' })], [c('init')]);
    applyLimitRangeDefaults(range, p);
    expect(p.spec.containers[0].resources).toEqual({ limits: { cpu: '400m', memory: '256Mi' }, requests: { cpu: '100m' } });
    expect(p.spec.containers[1].resources).toEqual({ limits: { memory: '128Mi', cpu: '400m' }, requests: { cpu: '200m' } });
    expect(p.metadata!.annotations['kubernetes.io/limit-ranger']).toBe(
      'LimitRanger plugin set: cpu request for container a; cpu, memory limit for container a; cpu limit for container b; cpu request for init container init; cpu, memory limit for init container init',
    );
    expect(limitRangeViolations(range, p)).toEqual([]);
  });

  it.each<[string, KObject, string[]]>([
    ['limit over max', pod([c('a', { cpu: '100m' }, { cpu: '1' })]), ['maximum cpu usage per Container is 500m, but limit is 1', 'cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000']],
    ['request under min', pod([c('a', { cpu: '10m' }, { cpu: '20m' })]), ['minimum cpu usage per Container is 50m, but request is 10m']],
    ['limit under min', pod([c('a', { cpu: '60m' }, { cpu: '40m' })]), ['minimum cpu usage per Container is 50m, but limit is 40m']],
    [
      'no limit against a max',
      pod([c('a', { cpu: '100m' })]),
      [
        'maximum cpu usage per Container is 500m.  No limit is specified',
        'cpu max limit to request ratio per Container is 4, but no limit is specified or limit is 0',
        'maximum cpu usage per Pod is 1.  No limit is specified',
      ],
    ],
    ['ratio over', pod([c('a', { cpu: '100m' }, { cpu: '500m' })]), ['cpu max limit to request ratio per Container is 4, but provided ratio is 5.000000']],
    [
      'the pod total over the Pod max',
      pod([c('a', { cpu: '400m' }, { cpu: '400m' }), c('b', { cpu: '400m' }, { cpu: '400m' }), c('c', { cpu: '400m' }, { cpu: '400m' })]),
      ['maximum cpu usage per Pod is 1, but limit is 1200m'],
    ],
  ])('%s', (_what, p, want) => expect(limitRangeViolations(range, p)).toEqual(want));

  it('joins several refusals as upstream aggregates them', () => {
    expect(aggregate(['a'])).toBe('a');
    expect(aggregate(['a', 'b', 'a'])).toBe('[a, b]');
  });
});
