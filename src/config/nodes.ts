/** Reading zod schema nodes: what a node is under its optional/default/… wrappers. */
import type { z } from 'zod';

export type Schema = z.core.$ZodType;

const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional']);

export function defOf(schema: Schema): z.core.$ZodTypes['_zod']['def'] {
  return (schema as z.core.$ZodTypes)._zod.def;
}

/** The node and each node it wraps, outermost first; a pipe (transform) is followed to its input side. */
export function layers(schema: Schema): Schema[] {
  const found = [schema];
  for (;;) {
    const def = defOf(found[found.length - 1]!);
    if (WRAPPERS.has(def.type)) found.push((def as { innerType: Schema }).innerType);
    else if (def.type === 'pipe') found.push(def.in);
    else return found;
  }
}

/** The schema without its wrappers. */
export function peel(schema: Schema): Schema {
  return layers(schema).at(-1)!;
}
