/**
 * The mark on schema nodes whose value is read once, at start: a change in a running server waits
 * for a restart. schema.ts derives `restartKeys` (what a reload reports) from these marks, and the
 * configuration reference says "Needs a restart." for the same keys, so the two can't disagree.
 */
import { z } from 'zod';

export const restartRegistry = z.registry<{ restart: true }>();

/** Marks `schema` (as placed in its parent object) as taking effect only after a restart. */
export function restartOnly<T extends z.ZodType>(schema: T): T {
  restartRegistry.add(schema, { restart: true });
  return schema;
}
