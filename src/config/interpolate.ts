/**
 * `${ENV_VAR}` references in the configuration. Environment variables are strings, and they stay
 * strings: a secret made of digits is still a secret, not a number. Only where the schema expects a
 * number or a boolean (and no string) is a value that is exactly one reference read as one, so that
 * `port: ${PORT}` works; what doesn't read as one is left a string and the schema reports it at its key.
 */
import { defOf, peel, type Schema } from './nodes.ts';

type Kind = 'string' | 'number' | 'boolean';

/** A problem found while interpolating, at a key path. */
export interface InterpolationProblem {
  path: string;
  message: string;
}

export interface Interpolated {
  value: unknown;
  problems: InterpolationProblem[];
  /** Dotted key path → the variable a whole value came from (for error messages). */
  sources: Map<string, string>;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE_REF = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const NUMBER = /^-?\d+(\.\d+)?$/;

/** The schema of `key` inside `schema` (an object's key, a list's item, a union option's key). */
function childOf(schema: Schema | undefined, key: string): Schema | undefined {
  if (!schema) return undefined;
  const def = defOf(peel(schema));
  switch (def.type) {
    case 'object':
      return Object.hasOwn(def.shape, key) ? def.shape[key] : undefined;
    case 'array':
      return def.element;
    case 'record':
      return def.valueType;
    case 'union':
      for (const option of def.options) {
        const found = childOf(option, key);
        if (found) return found;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** Which scalar types a schema accepts. */
function kinds(schema: Schema | undefined, into = new Set<Kind>()): Set<Kind> {
  if (!schema) return into;
  const def = defOf(peel(schema));
  switch (def.type) {
    case 'string':
    case 'enum':
      into.add('string');
      break;
    case 'number':
      into.add('number');
      break;
    case 'boolean':
      into.add('boolean');
      break;
    case 'literal':
      for (const v of def.values) {
        if (typeof v === 'string') into.add('string');
        if (typeof v === 'number') into.add('number');
        if (typeof v === 'boolean') into.add('boolean');
      }
      break;
    case 'union':
      for (const option of def.options) kinds(option, into);
      break;
  }
  return into;
}

/** The variable's text as the number or boolean the key expects, or the text itself. */
function typed(raw: string, schema: Schema | undefined): unknown {
  const accepts = kinds(schema);
  if (accepts.has('string')) return raw;
  const text = raw.trim();
  if (accepts.has('number') && NUMBER.test(text)) return Number(text);
  if (accepts.has('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  return raw;
}

/** Replaces every `${VAR}` in the string values of `value`, guided by `schema` for their types. */
export function interpolate(value: unknown, schema: Schema, env: NodeJS.ProcessEnv): Interpolated {
  const problems: InterpolationProblem[] = [];
  const sources = new Map<string, string>();

  const visit = (item: unknown, node: Schema | undefined, at: string[]): unknown => {
    if (typeof item === 'string') {
      const whole = WHOLE_REF.exec(item);
      if (whole && env[whole[1]!] !== undefined) {
        sources.set(at.join('.'), whole[1]!);
        return typed(env[whole[1]!]!, node);
      }
      return item.replace(ENV_REF, (_match, name: string) => {
        const found = env[name];
        if (found === undefined) {
          problems.push({ path: at.join('.'), message: `refers to environment variable ${name}, which is not set` });
          return '';
        }
        return found;
      });
    }
    if (Array.isArray(item)) return item.map((entry, i) => visit(entry, childOf(node, String(i)), [...at, String(i)]));
    if (item && typeof item === 'object') {
      return Object.fromEntries(Object.entries(item).map(([key, entry]) => [key, visit(entry, childOf(node, key), [...at, key])]));
    }
    return item;
  };

  return { value: visit(value, schema, []), problems, sources };
}
