// Field error builders that render messages exactly as k8s.io/apimachinery/pkg/util/validation/field does,
// so `kubectl` shows the same text users know from upstream.
import type { FieldError } from './registry.js';

const typeText: Record<FieldError['type'], string> = {
  FieldValueInvalid: 'Invalid value',
  FieldValueRequired: 'Required value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
};

/** Marker for errors whose value must not be printed (upstream's omitValue). */
export const OMIT = Symbol('omitValue');

/** Go's %q for strings: double quotes with Go escapes. JSON escaping is close enough for printable text. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Renders a bad value as upstream's ErrorBody does (%v for scalars, %q for strings, %#v-like for the rest). */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) return `[]string{${v.map((x) => goQuote(x)).join(', ')}}`;
    return `[]interface {}{${v.map((x) => formatValue(x)).join(', ')}}`;
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (entries.every(([, x]) => typeof x === 'string')) {
      return `map[string]string{${entries.map(([k, x]) => `${goQuote(k)}:${goQuote(x as string)}`).join(', ')}}`;
    }
    return `map[string]interface {}{${entries.map(([k, x]) => `${goQuote(k)}:${formatValue(x)}`).join(', ')}}`;
  }
  return String(v);
}

function make(type: FieldError['type'], field: string, body: string): FieldError {
  return { type, field, message: field ? `${field}: ${body}` : body };
}

function withDetail(s: string, detail?: string): string {
  return detail ? `${s}: ${detail}` : s;
}

export function invalidField(field: string, value: unknown, detail?: string): FieldError {
  const head = value === OMIT ? typeText.FieldValueInvalid : `${typeText.FieldValueInvalid}: ${formatValue(value)}`;
  return make('FieldValueInvalid', field, withDetail(head, detail));
}

export function requiredField(field: string, detail?: string): FieldError {
  return make('FieldValueRequired', field, withDetail(typeText.FieldValueRequired, detail));
}

export function forbiddenField(field: string, detail?: string): FieldError {
  return make('FieldValueForbidden', field, withDetail(typeText.FieldValueForbidden, detail));
}

export function duplicateField(field: string, value: unknown): FieldError {
  return make('FieldValueDuplicate', field, `${typeText.FieldValueDuplicate}: ${formatValue(value)}`);
}

export function notSupportedField(field: string, value: unknown, supported: string[]): FieldError {
  const detail = supported.length ? 'supported values: ' + supported.map((s) => goQuote(s)).join(', ') : undefined;
  return make('FieldValueNotSupported', field, withDetail(`${typeText.FieldValueNotSupported}: ${formatValue(value)}`, detail));
}

export function tooLongField(field: string, _value: unknown, max: number): FieldError {
  const detail = max >= 0 ? `must have at most ${max} bytes` : 'value is too long';
  return make('FieldValueTooLong', field, withDetail(typeText.FieldValueTooLong, detail));
}

/** The message without its "field: " prefix (upstream's ErrorBody, used as StatusCause.message). */
export function errorBody(e: FieldError): string {
  const prefix = e.field ? `${e.field}: ` : '';
  return prefix && e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
}

/** Joins errors as upstream's utilerrors.Aggregate: one error verbatim, several as "[a, b]", duplicates once. */
export function aggregateMessage(errs: FieldError[]): string {
  const seen: string[] = [];
  for (const e of errs) if (!seen.includes(e.message)) seen.push(e.message);
  if (seen.length === 0) return '';
  if (seen.length === 1) return seen[0]!;
  return '[' + seen.join(', ') + ']';
}
