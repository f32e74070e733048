import { describe, expect, it } from 'vitest';
import {
  fieldSelectorMatches,
  labelSelectorFromMap,
  labelSelectorFromSpec,
  matches,
  parseFieldSelector,
  parseLabelSelector,
  selectorToString,
  SelectorParseError,
  validateFieldSelector,
} from '../../api/selectors.js';
import { findResource } from '../../api/resources.js';

const pods = findResource('', 'v1', 'pods')!;

describe('label selector parsing', () => {
  it.each([
    ['x=a,y=b', 'x=a,y=b'],
    ['y=b,x=a', 'x=a,y=b'],
    ['x==a', 'x==a'],
    ['x!=a', 'x!=a'],
    ['x in (b,a)', 'x in (a,b)'],
    ['x notin (a)', 'x notin (a)'],
    ['x', 'x'],
    ['!x', '!x'],
    ['  x  ,  !y  ', 'x,!y'],
    ['x=', 'x='],
    ['x in ()', 'x in ()'],
    ['x in (a,,b)', 'x in (,a,b)'],
    ['x>1', 'x>1'],
    ['app.kubernetes.io/name=web', 'app.kubernetes.io/name=web'],
    ['in=notin', 'in=notin'],
    ['', ''],
  ])('%s -> %s', (input, canonical) => {
    expect(selectorToString(parseLabelSelector(input))).toBe(canonical);
  });

  it.each([
    ['x=a b', "found 'b', expected: ',' or 'end of string'"],
    ['x in a', "unable to parse requirement: found 'a' expected: '('"],
    ['x in (a', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['x,', "found '', expected: identifier after ','"],
    ['=a', "found '=', expected: !, identifier, or 'end of string'"],
    ['x (a)', "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"],
    ['x=(a)', "unable to parse requirement: found '(', expected: identifier"],
    ['x>a', "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"],
    [
      'x=a$',
      'unable to parse requirement: values[0][x]: Invalid value: "a$": a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character (e.g. \'MyValue\',  or \'my_value\',  or \'12345\', regex used for validation is \'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\')',
    ],
    [
      'a/b/c=d',
      "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ],
  ])('rejects %s', (input, msg) => {
    let err: unknown;
    try {
      parseLabelSelector(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SelectorParseError);
    expect((err as Error).message).toBe(msg);
  });
});

describe('label selector matching', () => {
  const labels = { app: 'redis', role: 'master', tier: 'backend', gen: '5' };
  it.each([
    ['app=redis', true],
    ['app==redis,role=master', true],
    ['app=redis,role=slave', false],
    ['app!=redis', false],
    ['app!=php', true],
    ['missing!=x', true],
    ['role in (master,slave)', true],
    ['role notin (master)', false],
    ['missing notin (a)', true],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['gen>4', true],
    ['gen<4', false],
    ['app>1', false],
    ['', true],
  ])('%s -> %s', (sel, want) => {
    expect(matches(parseLabelSelector(sel), labels)).toBe(want);
  });

  it('metav1.LabelSelector: nil matches nothing, empty everything, expressions', () => {
    expect(matches(labelSelectorFromSpec(null), labels)).toBe(false);
    expect(matches(labelSelectorFromSpec({}), labels)).toBe(true);
    const s = labelSelectorFromSpec({
      matchLabels: { app: 'redis' },
      matchExpressions: [
        { key: 'role', operator: 'In', values: ['master', 'slave'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    });
    expect(selectorToString(s)).toBe('app=redis,!canary,role in (master,slave)');
    expect(matches(s, labels)).toBe(true);
    expect(matches(s, { ...labels, canary: 'yes' })).toBe(false);
    expect(() => labelSelectorFromSpec({ matchExpressions: [{ key: 'a', operator: 'Foo' }] })).toThrow('"Foo" is not a valid label selector operator');
  });

  it('map selectors (RC, Service)', () => {
    const s = labelSelectorFromMap({ role: 'master', app: 'redis' });
    expect(selectorToString(s)).toBe('app=redis,role=master');
    expect(matches(s, labels)).toBe(true);
    expect(matches(s, { app: 'redis' })).toBe(false);
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'p1', namespace: 'default' }, spec: { nodeName: 'node-1' }, status: { phase: 'Running' } };
  it('parses =, ==, != and matches pod fields', () => {
    const s = parseFieldSelector('spec.nodeName=node-1,status.phase!=Pending,metadata.name==p1');
    expect(s.requirements).toHaveLength(3);
    validateFieldSelector(s, pods);
    expect(fieldSelectorMatches(s, pod, pods)).toBe(true);
    expect(fieldSelectorMatches(parseFieldSelector('spec.nodeName='), pod, pods)).toBe(false);
    expect(fieldSelectorMatches(parseFieldSelector('spec.nodeName='), { ...pod, spec: {} }, pods)).toBe(true);
    expect(fieldSelectorMatches(parseFieldSelector('metadata.namespace!=default'), pod, pods)).toBe(false);
  });

  it('unsupported field label gives upstream text', () => {
    expect(() => validateFieldSelector(parseFieldSelector('foo=bar'), pods)).toThrow('field label not supported: foo');
    const secrets = findResource('', 'v1', 'secrets')!;
    expect(() => validateFieldSelector(parseFieldSelector('type=Opaque'), secrets)).not.toThrow();
    expect(() => validateFieldSelector(parseFieldSelector('spec.nodeName=x'), secrets)).toThrow('field label not supported: spec.nodeName');
  });

  it('bad terms and escapes', () => {
    expect(() => parseFieldSelector('foo')).toThrow("invalid selector: 'foo'; can't understand 'foo'");
    expect(parseFieldSelector('metadata.name=a\\,b').requirements[0]!.value).toBe('a,b');
  });

  it('node and event selectors', () => {
    const nodes = findResource('', 'v1', 'nodes')!;
    const s = parseFieldSelector('spec.unschedulable=false');
    expect(fieldSelectorMatches(s, { metadata: { name: 'n' }, spec: {} }, nodes)).toBe(true);
    expect(fieldSelectorMatches(s, { metadata: { name: 'n' }, spec: { unschedulable: true } }, nodes)).toBe(false);
    const events = findResource('', 'v1', 'events')!;
    const ev = { metadata: { name: 'e' }, involvedObject: { kind: 'Pod', name: 'p1', namespace: 'default' }, reason: 'Scheduled', type: 'Normal' };
    expect(fieldSelectorMatches(parseFieldSelector('involvedObject.kind=Pod,involvedObject.name=p1,type=Normal'), ev, events)).toBe(true);
  });
});
