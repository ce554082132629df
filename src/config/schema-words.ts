/**
 * A zod schema in words, for the configuration reference: its type, default and every
 * constraint (ranges, lengths, patterns, item rules), as docs.ts lists them per key.
 */
import { z } from 'zod';

export type AnySchema = z.core.$ZodType;
type Check = z.core.$ZodCheck;

export interface Wrapping {
  description: string | undefined;
  hasDefault: boolean;
  defaultValue: unknown;
  optional: boolean;
}


const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional', 'pipe']);

function describedAs(schema: AnySchema): string | undefined {
  return z.globalRegistry.get(schema)?.description;
}

/** Peels optional/default/prefault/… wrappers, keeping the outermost description and default. */
export function unwrap(schema: AnySchema): { inner: AnySchema; wrapping: Wrapping } {
  const wrapping: Wrapping = { description: undefined, hasDefault: false, defaultValue: undefined, optional: false };
  let current = schema;
  for (;;) {
    wrapping.description ??= describedAs(current);
    const def = (current as z.core.$ZodTypes)._zod.def;
    if (!WRAPPERS.has(def.type)) break;
    switch (def.type) {
      case 'default':
      case 'prefault':
        if (!wrapping.hasDefault) {
          wrapping.hasDefault = true;
          wrapping.defaultValue = def.defaultValue;
        }
        current = def.innerType;
        break;
      case 'optional':
        wrapping.optional = true;
        current = def.innerType;
        break;
      case 'nullable':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        current = def.innerType;
        break;
      case 'pipe':
        // The file holds the pipe's input.
        current = def.in;
        break;
    }
  }
  return { inner: current, wrapping };
}

function checksOf(schema: AnySchema): Check[] {
  return ((schema as z.core.$ZodTypes)._zod.def as { checks?: Check[] }).checks ?? [];
}

/** The custom message a check was given (`.regex(re, 'must …')`, `.refine(fn, 'must …')`), if any. */
function checkMessage(check: Check): string | undefined {
  const error = (check._zod.def as { error?: unknown }).error;
  if (typeof error !== 'function') return undefined;
  try {
    const out: unknown = error({ code: 'custom', input: undefined, path: [] });
    if (typeof out === 'string') return out;
    if (out && typeof out === 'object' && typeof (out as { message?: unknown }).message === 'string') {
      return (out as { message: string }).message;
    }
  } catch {
    // A message that needs the real issue can't be shown here.
  }
  return undefined;
}

export function code(value: string): string {
  // A code span that survives backticks in the value.
  const fence = value.includes('`') ? '``' : '`';
  const pad = value.startsWith('`') || value.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${value}${pad}${fence}`;
}

export function formatValue(value: unknown): string {
  if (typeof value === 'string') return value === '' ? code('""') : code(value);
  return code(JSON.stringify(value));
}

function isInteger(schema: AnySchema): boolean {
  return checksOf(schema).some((c) => {
    const def = c._zod.def as { check: string; format?: string };
    return def.check === 'number_format' && (def.format === 'safeint' || def.format === 'int32' || def.format === 'uint32');
  });
}

export function typeOf(schema: AnySchema): string {
  const def = (schema as z.core.$ZodTypes)._zod.def;
  switch (def.type) {
    case 'string':
      return 'string';
    case 'number':
      return isInteger(schema) ? 'integer' : 'number';
    case 'boolean':
      return 'boolean';
    case 'enum':
      return `one of ${Object.values(def.entries)
        .map((v) => code(String(v)))
        .join(', ')}`;
    case 'literal':
      return def.values.map((v) => code(String(v))).join(' or ');
    case 'array':
      return `list of ${typeOf(unwrap(def.element).inner)}`;
    case 'union':
      return def.options.map((o) => typeOf(unwrap(o).inner)).join(' or ');
    case 'record':
      return `mapping of ${typeOf(unwrap(def.keyType).inner)} to ${typeOf(unwrap(def.valueType).inner)}`;
    case 'object':
      return 'mapping';
    default:
      return def.type;
  }
}

function bounds(min: string | undefined, max: string | undefined): string | undefined {
  if (min !== undefined && max !== undefined) return min === max ? min : `${min}–${max}`;
  if (min !== undefined) return `≥ ${min}`;
  if (max !== undefined) return `≤ ${max}`;
  return undefined;
}

/** Every constraint on a value, in words; `items` describes list elements. */
export function rulesOf(schema: AnySchema): string[] {
  const def = (schema as z.core.$ZodTypes)._zod.def;
  const rules: string[] = [];
  const messages: string[] = [];
  let min: number | undefined;
  let max: number | undefined;
  let exclusiveMin: number | undefined;
  let exclusiveMax: number | undefined;
  let length: number | undefined;
  for (const check of checksOf(schema)) {
    const c = check._zod.def as z.core.$ZodCheckDef & Record<string, unknown>;
    switch (c.check) {
      case 'greater_than':
        if (c.inclusive) min = Number(c.value);
        else exclusiveMin = Number(c.value);
        break;
      case 'less_than':
        if (c.inclusive) max = Number(c.value);
        else exclusiveMax = Number(c.value);
        break;
      case 'min_length':
      case 'min_size':
        min = Number(c.minimum);
        break;
      case 'max_length':
      case 'max_size':
        max = Number(c.maximum);
        break;
      case 'length_equals':
      case 'size_equals':
        length = Number(c.length ?? c.size);
        break;
      case 'number_format':
        break;
      case 'string_format': {
        const message = checkMessage(check);
        if (message) messages.push(message);
        else if (c.format === 'regex' && c.pattern instanceof RegExp) messages.push(`must match ${code(String(c.pattern))}`);
        else messages.push(`must be a valid ${String(c.format)}`);
        break;
      }
      default: {
        const message = checkMessage(check);
        if (message) messages.push(message);
        break;
      }
    }
  }
  const lower = min !== undefined ? String(min) : undefined;
  if (def.type === 'number' || def.type === 'bigint') {
    const range = bounds(lower, max !== undefined ? String(max) : undefined);
    if (range) rules.push(range);
    if (exclusiveMin !== undefined) rules.push(`> ${exclusiveMin}`);
    if (exclusiveMax !== undefined) rules.push(`< ${exclusiveMax}`);
  } else if (def.type === 'array' || def.type === 'set') {
    const items = (n: number) => `${n} item${n === 1 ? '' : 's'}`;
    if (length !== undefined) rules.push(`exactly ${items(length)}`);
    else if (min !== undefined && max !== undefined) rules.push(`${min}–${max} items`);
    else if (min !== undefined) rules.push(`at least ${items(min)}`);
    else if (max !== undefined) rules.push(`at most ${items(max)}`);
  } else if (length !== undefined) {
    rules.push(`length ${length}`);
  } else if (min === 1 && max === undefined) {
    rules.push('not empty');
  } else {
    const range = bounds(min !== undefined ? String(min) : undefined, max !== undefined ? String(max) : undefined);
    if (range) rules.push(`length ${range}`);
  }
  rules.push(...messages);
  if (def.type === 'array') {
    const itemRules = rulesOf(unwrap(def.element).inner);
    if (itemRules.length) rules.push(`each: ${itemRules.join(', ')}`);
  }
  return rules;
}
