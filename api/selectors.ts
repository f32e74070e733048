// Label and field selectors with k8s.io/apimachinery semantics: the same grammar, the same
// canonical String() form, and the same parse error texts the apiserver returns.
import type { KObject, ResourceDef } from './registry.js';
import { isQualifiedName, isValidLabelValue } from './validation.js';
import { goQuote } from './field.js';

export type Operator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  operator: Operator;
  /** Sorted, de-duplicated, as upstream keeps them in a string set. */
  values: string[];
}

export interface LabelSelector {
  requirements: Requirement[];
  /** Matches nothing (a nil metav1.LabelSelector). */
  nothing?: boolean;
}

export interface MetaLabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** Error from parsing a selector; message is the upstream text. */
export class SelectorParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorParseError';
  }
}

export function everything(): LabelSelector {
  return { requirements: [] };
}

export function nothing(): LabelSelector {
  return { requirements: [], nothing: true };
}

// ---- lexer ----

type Tok =
  | 'ident'
  | 'eos'
  | 'error'
  | '!'
  | '!='
  | '('
  | ')'
  | ','
  | '='
  | '=='
  | '>'
  | '<'
  | 'in'
  | 'notin';

interface Item {
  tok: Tok;
  lit: string;
}

const SYMBOLS: Record<string, Tok> = { '!': '!', '!=': '!=', '(': '(', ')': ')', ',': ',', '=': '=', '==': '==', '>': '>', '<': '<' };
const isWs = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isSpecial = (c: string) => c === '=' || c === '!' || c === '(' || c === ')' || c === ',' || c === '>' || c === '<';

function lex(input: string): Item[] {
  const out: Item[] = [];
  let i = 0;
  for (;;) {
    while (i < input.length && isWs(input[i]!)) i++;
    if (i >= input.length) {
      out.push({ tok: 'eos', lit: '' });
      return out;
    }
    const c = input[i]!;
    if (isSpecial(c)) {
      // Longest run of special characters that is still a known operator.
      let buf = '';
      let last: Item | undefined;
      while (i < input.length && isSpecial(input[i]!)) {
        buf += input[i];
        const t = SYMBOLS[buf];
        if (t) {
          last = { tok: t, lit: buf };
          i++;
        } else if (last) {
          break;
        } else {
          i++;
        }
      }
      out.push(last ?? { tok: 'error', lit: `error expected: keyword found '${buf}'` });
      continue;
    }
    let s = '';
    while (i < input.length && !isWs(input[i]!) && !isSpecial(input[i]!)) s += input[i++];
    if (s === 'in') out.push({ tok: 'in', lit: s });
    else if (s === 'notin') out.push({ tok: 'notin', lit: s });
    else out.push({ tok: 'ident', lit: s });
  }
}

// ---- parser ----

class Parser {
  private pos = 0;
  constructor(private readonly items: Item[]) {}

  // In "values" context the keywords in/notin are plain identifiers (a label may be called "in").
  private lookahead(values: boolean): Item {
    const it = this.items[this.pos] ?? { tok: 'eos', lit: '' };
    if (values && (it.tok === 'in' || it.tok === 'notin')) return { tok: 'ident', lit: it.lit };
    return it;
  }

  private consume(values: boolean): Item {
    const it = this.lookahead(values);
    if (this.pos < this.items.length) this.pos++;
    return it;
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead(true);
      if (tok === 'ident' || tok === '!') {
        let r: Requirement;
        try {
          r = this.parseRequirement();
        } catch (e) {
          throw new SelectorParseError(`unable to parse requirement: ${(e as Error).message}`);
        }
        reqs.push(r);
        const t = this.consume(true);
        if (t.tok === 'eos') return reqs;
        if (t.tok === ',') {
          const t2 = this.lookahead(true);
          if (t2.tok !== 'ident' && t2.tok !== '!') throw new SelectorParseError(`found '${t2.lit}', expected: identifier after ','`);
        } else {
          throw new SelectorParseError(`found '${t.lit}', expected: ',' or 'end of string'`);
        }
      } else if (tok === 'eos') {
        return reqs;
      } else {
        throw new SelectorParseError(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
    }
  }

  private parseRequirement(): Requirement {
    let op: Operator | undefined;
    let t = this.consume(true);
    if (t.tok === '!') {
      op = '!';
      t = this.consume(true);
    }
    if (t.tok !== 'ident') throw new Error(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    checkKey(key);
    const next = this.lookahead(true).tok;
    if (next === 'eos' || next === ',') {
      return newRequirement(key, op ?? 'exists', []);
    }
    if (op === '!') {
      // "!key" followed by something else: upstream falls through to parse a binary operator.
    }
    const opItem = this.consume(false);
    let bop: Operator;
    switch (opItem.tok) {
      case 'in': bop = 'in'; break;
      case 'notin': bop = 'notin'; break;
      case '=': bop = '='; break;
      case '==': bop = '=='; break;
      case '!=': bop = '!='; break;
      case '>': bop = 'gt'; break;
      case '<': bop = 'lt'; break;
      default:
        throw new Error(`found '${opItem.lit}', expected: in, notin, =, ==, !=, gt, lt`);
    }
    const values = bop === 'in' || bop === 'notin' ? this.parseValues() : this.parseExactValue();
    return newRequirement(key, bop, values);
  }

  private parseValues(): string[] {
    const t = this.consume(true);
    if (t.tok !== '(') throw new Error(`found '${t.lit}' expected: '('`);
    const la = this.lookahead(true);
    if (la.tok === 'ident' || la.tok === ',') {
      const s = this.parseIdentifiersList();
      const close = this.consume(true);
      if (close.tok !== ')') throw new Error(`found '${la.lit}', expected: ')'`);
      return s;
    }
    if (la.tok === ')') {
      this.consume(true);
      return [''];
    }
    throw new Error(`found '${la.lit}', expected: ',', ')' or identifier`);
  }

  private parseIdentifiersList(): string[] {
    const s = new Set<string>();
    for (;;) {
      const t = this.consume(true);
      if (t.tok === 'ident') {
        s.add(t.lit);
        const t2 = this.lookahead(true);
        if (t2.tok === ',') continue;
        if (t2.tok === ')') return [...s];
        throw new Error(`found '${t2.lit}', expected: ',' or ')'`);
      } else if (t.tok === ',') {
        if (s.size === 0) s.add('');
        const t2 = this.lookahead(true);
        if (t2.tok === ')') {
          s.add('');
          return [...s];
        }
        if (t2.tok === ',') {
          this.consume(true);
          s.add('');
        }
      } else {
        throw new Error(`found '${t.lit}', expected: ',', or identifier`);
      }
    }
  }

  private parseExactValue(): string[] {
    const la = this.lookahead(true);
    if (la.tok === 'eos' || la.tok === ',') return [''];
    const t = this.consume(true);
    if (t.tok === 'ident') return [t.lit];
    throw new Error(`found '${t.lit}', expected: identifier`);
  }
}

// Upstream validates keys with a nil field path while parsing, which prints as "<nil>".
function checkKey(key: string): void {
  const errs = isQualifiedName(key);
  if (errs.length) throw new Error(`<nil>: Invalid value: ${goQuote(key)}: ${errs.join('; ')}`);
}

/** Builds a requirement with upstream's NewRequirement checks; throws on invalid input. */
export function newRequirement(key: string, operator: Operator, vals: string[]): Requirement {
  const errs: string[] = [];
  const keyErrs = isQualifiedName(key);
  if (keyErrs.length) errs.push(`key: Invalid value: ${goQuote(key)}: ${keyErrs.join('; ')}`);
  const valuesRepr = `[]string{${vals.map((v) => JSON.stringify(v)).join(', ')}}`;
  switch (operator) {
    case 'in':
    case 'notin':
      if (vals.length === 0) errs.push(`values: Invalid value: ${valuesRepr}: for 'in', 'notin' operators, values set can't be empty`);
      break;
    case '=':
    case '==':
    case '!=':
      if (vals.length !== 1) errs.push(`values: Invalid value: ${valuesRepr}: exact-match compatibility requires one single value`);
      break;
    case 'exists':
    case '!':
      if (vals.length !== 0) errs.push(`values: Invalid value: ${valuesRepr}: values set must be empty for exists and does not exist`);
      break;
    case 'gt':
    case 'lt':
      if (vals.length !== 1) errs.push(`values: Invalid value: ${valuesRepr}: for 'Gt', 'Lt' operators, exactly one value is required`);
      vals.forEach((v, i) => {
        if (!/^[+-]?\d+$/.test(v)) errs.push(`values[${i}]: Invalid value: ${JSON.stringify(v)}: for 'Gt', 'Lt' operators, the value must be an integer`);
      });
      break;
    default:
      errs.push(`operator: Unsupported value: ${JSON.stringify(operator)}`);
  }
  vals.forEach((v, i) => {
    const ve = isValidLabelValue(v);
    if (ve.length) errs.push(`values[${i}][${key}]: Invalid value: ${goQuote(v)}: ${ve.join('; ')}`);
  });
  if (errs.length) throw new SelectorParseError(errs.length === 1 ? errs[0]! : `[${errs.join(', ')}]`);
  return { key, operator, values: [...new Set(vals)].sort() };
}

function sortRequirements(reqs: Requirement[]): Requirement[] {
  return [...reqs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** labels.Parse: parses "a=b,c in (x,y),!d"; throws SelectorParseError with upstream's message. */
export function parseLabelSelector(s: string): LabelSelector {
  return { requirements: sortRequirements(new Parser(lex(s)).parse()) };
}

/** metav1.LabelSelectorAsSelector: nil matches nothing, empty matches everything. */
export function labelSelectorFromSpec(spec: MetaLabelSelector | null | undefined): LabelSelector {
  if (spec === null || spec === undefined) return nothing();
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(spec.matchLabels ?? {})) reqs.push(newRequirement(k, '=', [String(v)]));
  for (const expr of spec.matchExpressions ?? []) {
    let op: Operator;
    switch (expr.operator) {
      case 'In': op = 'in'; break;
      case 'NotIn': op = 'notin'; break;
      case 'Exists': op = 'exists'; break;
      case 'DoesNotExist': op = '!'; break;
      default:
        throw new SelectorParseError(`${JSON.stringify(expr.operator)} is not a valid label selector operator`);
    }
    reqs.push(newRequirement(expr.key, op, [...(expr.values ?? [])]));
  }
  return { requirements: sortRequirements(reqs) };
}

/** A map selector (RC spec.selector / Service spec.selector): every key must equal. Empty map matches everything. */
export function labelSelectorFromMap(m: Record<string, string> | null | undefined): LabelSelector {
  const reqs = Object.entries(m ?? {}).map(([k, v]) => ({ key: k, operator: '=' as Operator, values: [String(v)] }));
  return { requirements: sortRequirements(reqs) };
}

function requirementString(r: Requirement): string {
  switch (r.operator) {
    case '!': return `!${r.key}`;
    case 'exists': return r.key;
    case 'in': return `${r.key} in (${r.values.join(',')})`;
    case 'notin': return `${r.key} notin (${r.values.join(',')})`;
    case 'gt': return `${r.key}>${r.values[0] ?? ''}`;
    case 'lt': return `${r.key}<${r.values[0] ?? ''}`;
    default: return `${r.key}${r.operator}${r.values[0] ?? ''}`;
  }
}

/** Canonical form (requirements sorted by key), as labels.Selector.String(). */
export function selectorToString(sel: LabelSelector): string {
  return sel.requirements.map(requirementString).join(',');
}

export function isEverything(sel: LabelSelector): boolean {
  return !sel.nothing && sel.requirements.length === 0;
}

function requirementMatches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? String(labels[r.key]) : undefined;
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has && r.values.includes(v!);
    case 'notin':
    case '!=':
      return !has || !r.values.includes(v!);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || !/^[+-]?\d+$/.test(v!) || r.values.length !== 1) return false;
      const lv = BigInt(v!);
      const rv = BigInt(r.values[0]!);
      return r.operator === 'gt' ? lv > rv : lv < rv;
    }
  }
}

export function matches(sel: LabelSelector, labels: Record<string, string> | undefined | null): boolean {
  if (sel.nothing) return false;
  const l = labels ?? {};
  return sel.requirements.every((r) => requirementMatches(r, l));
}

// ---- field selectors ----

export interface FieldRequirement {
  field: string;
  operator: '=' | '==' | '!=';
  value: string;
}

export interface FieldSelector {
  requirements: FieldRequirement[];
}

// Split on unescaped commas, keeping escapes for the value unescaping that follows.
function splitTerms(s: string): string[] {
  if (s === '') return [];
  const out: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < s.length; i++) {
    if (escaped) escaped = false;
    else if (s[i] === '\\') escaped = true;
    else if (s[i] === ',') {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function splitTerm(term: string): [string, FieldRequirement['operator'], string] | undefined {
  for (let i = 0; i < term.length; i++) {
    const rest = term.slice(i);
    for (const op of ['!=', '==', '='] as const) {
      if (rest.startsWith(op)) return [term.slice(0, i), op, term.slice(i + op.length)];
    }
  }
  return undefined;
}

function unescapeValue(s: string): string {
  if (!/[\\=,]/.test(s)) return s;
  let out = '';
  let escaped = false;
  for (const c of s) {
    if (escaped) {
      if (c !== '\\' && c !== ',' && c !== '=') throw new SelectorParseError(`invalid field selector: invalid escape sequence: ${JSON.stringify(s)}`);
      out += c;
      escaped = false;
    } else if (c === '\\') escaped = true;
    else if (c === ',' || c === '=') throw new SelectorParseError(`invalid field selector: unescaped '${c}' in value: ${JSON.stringify(s)}`);
    else out += c;
  }
  if (escaped) throw new SelectorParseError(`invalid field selector: invalid escape sequence: ${JSON.stringify(s)}`);
  return out;
}

/** fields.ParseSelector: "a=b,c!=d". */
export function parseFieldSelector(s: string): FieldSelector {
  const parts = splitTerms(s).sort();
  const reqs: FieldRequirement[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const t = splitTerm(part);
    if (!t) throw new SelectorParseError(`invalid selector: '${s}'; can't understand '${part}'`);
    reqs.push({ field: t[0], operator: t[1], value: unescapeValue(t[2]) });
  }
  return { requirements: reqs };
}

export function fieldSelectorToString(sel: FieldSelector): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/=/g, '\\=');
  return sel.requirements.map((r) => `${r.field}${r.operator === '!=' ? '!=' : '='}${esc(r.value)}`).join(',');
}

function fieldGetter(def: Pick<ResourceDef, 'fieldSelectors'>, field: string): ((obj: KObject) => string | undefined) | undefined {
  const fs = def.fieldSelectors;
  return fs && Object.prototype.hasOwnProperty.call(fs, field) ? fs[field] : undefined;
}

/** The value of a field label for an object, or undefined when the resource does not support that label. */
export function fieldValue(def: Pick<ResourceDef, 'fieldSelectors'>, obj: KObject, field: string): string | undefined {
  if (field === 'metadata.name') return obj.metadata?.name ?? '';
  if (field === 'metadata.namespace') return obj.metadata?.namespace ?? '';
  const f = fieldGetter(def, field);
  return f ? (f(obj) ?? '') : undefined;
}

/** Throws with the upstream text when a label is not supported for the resource. */
export function validateFieldSelector(sel: FieldSelector, def: Pick<ResourceDef, 'fieldSelectors'>): void {
  for (const r of sel.requirements) {
    if (r.field === 'metadata.name' || r.field === 'metadata.namespace') continue;
    if (!fieldGetter(def, r.field)) throw new SelectorParseError(`field label not supported: ${r.field}`);
  }
}

export function fieldSelectorMatches(sel: FieldSelector, obj: KObject, def: Pick<ResourceDef, 'fieldSelectors'>): boolean {
  return sel.requirements.every((r) => {
    const v = fieldValue(def, obj, r.field);
    if (v === undefined) return false;
    return r.operator === '!=' ? v !== r.value : v === r.value;
  });
}

/** For RC/Service style watchers: the single value a selector requires for a field, if any (e.g. spec.nodeName). */
export function requiredFieldValue(sel: FieldSelector, field: string): string | undefined {
  const r = sel.requirements.find((x) => x.field === field && x.operator !== '!=');
  return r?.value;
}
