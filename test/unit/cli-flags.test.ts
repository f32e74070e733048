// Flag values parse as upstream's components parse them (Go durations, strconv), and a bad
// one is refused with a message, never turned into NaN.
import { describe, expect, it } from 'vitest';
import { durationNanos } from '../../api/duration.js';
import { parseBoolFlag, parseCIDRFlag, parseDurationFlag, parseIntegerFlag, parsePortFlag, parsePortRange } from '../../cli/flags.js';

const S = 1_000_000_000n;
const M = 60n * S;
const H = 60n * M;

describe('Go durations (time.ParseDuration)', () => {
  it.each([
    ['0', 0n],
    ['5s', 5n * S],
    ['30s', 30n * S],
    ['1478s', 1478n * S],
    ['-5s', -5n * S],
    ['+5s', 5n * S],
    ['-0', 0n],
    ['5.0s', 5n * S],
    ['5.6s', 5n * S + 600_000_000n],
    ['5.s', 5n * S],
    ['.5s', S / 2n],
    ['1.004s', S + 4_000_000n],
    ['100.00100s', 100n * S + 1_000_000n],
    ['10ns', 10n],
    ['11us', 11_000n],
    ['12µs', 12_000n],
    ['12μs', 12_000n],
    ['13ms', 13_000_000n],
    ['15m', 15n * M],
    ['16h', 16n * H],
    ['3h30m', 3n * H + 30n * M],
    ['10.5s4m', 4n * M + 10n * S + S / 2n],
    ['-2m3.4s', -(2n * M + 3n * S + 400_000_000n)],
    ['1h2m3s4ms5us6ns', H + 2n * M + 3n * S + 4_000_000n + 5_000n + 6n],
    ['39h9m14.425s', 39n * H + 9n * M + 14n * S + 425_000_000n],
    ['0.3333333333333333333h', 20n * M],
    ['9223372036854775807ns', 2n ** 63n - 1n],
    ['-9223372036854775808ns', -(2n ** 63n)],
    ['5m0s', 5n * M],
  ])('%s', (s, ns) => {
    expect(durationNanos(s)).toBe(ns);
  });

  it.each([
    ['', 'time: invalid duration ""'],
    ['40', 'time: missing unit in duration "40"'],
    ['40x', 'time: unknown unit "x" in duration "40x"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['-', 'time: invalid duration "-"'],
    ['s', 'time: invalid duration "s"'],
    ['.', 'time: invalid duration "."'],
    ['.s', 'time: invalid duration ".s"'],
    ['NaN', 'time: invalid duration "NaN"'],
    ['9223372036854775808ns', 'time: invalid duration "9223372036854775808ns"'],
    ['40 s', 'time: unknown unit " s" in duration "40 s"'],
  ])('%s is refused: %s', (s, msg) => {
    expect(() => durationNanos(s)).toThrow(msg);
  });

  it('duration flags are milliseconds, never negative', () => {
    expect(parseDurationFlag('40s')).toBe(40_000);
    expect(parseDurationFlag('5m0s')).toBe(300_000);
    expect(parseDurationFlag('1.5h')).toBe(5_400_000);
    expect(parseDurationFlag('250us')).toBe(0.25);
    expect(() => parseDurationFlag('-1s')).toThrow('must not be negative');
    expect(() => parseDurationFlag('40')).toThrow('time: missing unit in duration "40"');
  });
});

describe('numbers', () => {
  it('integers as strconv.ParseInt, range-checked', () => {
    expect(parseIntegerFlag('24', 1, 32)).toBe(24);
    expect(parseIntegerFlag('-1', -1)).toBe(-1);
    expect(parseIntegerFlag('+7')).toBe(7);
    for (const bad of ['', '1.5', '1e3', ' 1', '0x10', 'abc', 'NaN']) {
      expect(() => parseIntegerFlag(bad), bad).toThrow(`strconv.ParseInt: parsing ${JSON.stringify(bad)}: invalid syntax`);
    }
    expect(() => parseIntegerFlag('99999999999999999999')).toThrow('value out of range');
    expect(() => parseIntegerFlag('33', 1, 32)).toThrow('must be between 1 and 32');
    expect(() => parseIntegerFlag('0', 1)).toThrow('must be at least 1');
  });

  it('ports and port ranges', () => {
    expect(parsePortFlag('6443')).toBe(6443);
    expect(parsePortFlag('0', true)).toBe(0);
    expect(() => parsePortFlag('0')).toThrow('must be between 1 and 65535');
    expect(() => parsePortFlag('65536', true)).toThrow('must be between 0 and 65535');
    expect(parsePortRange('30000-32767')).toEqual({ base: 30000, size: 2768 });
    expect(parsePortRange('20000-20100')).toEqual({ base: 20000, size: 101 });
    expect(parsePortRange('8080')).toEqual({ base: 8080, size: 1 });
    for (const bad of ['32767-30000', '1-70000', 'a-b', '30000-', '0-10']) expect(() => parsePortRange(bad), bad).toThrow(/unable to parse port range/);
  });

  it('booleans as strconv.ParseBool, CIDRs', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseBoolFlag(t)).toBe(true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseBoolFlag(f)).toBe(false);
    expect(() => parseBoolFlag('yes')).toThrow('strconv.ParseBool: parsing "yes": invalid syntax');
    expect(parseCIDRFlag('10.96.0.0/12')).toBe('10.96.0.0/12');
    for (const bad of ['10.96.0.0', '10.96.0.0/33', '300.1.1.1/8', 'x/8']) expect(() => parseCIDRFlag(bad), bad).toThrow('invalid CIDR address');
  });
});
