/** The two shapes most configuration keys take, written once for every schema file. */
import { z } from 'zod';

/** An integer key with its default, its range and its documentation. */
export const int = (def: number, min: number, max: number, doc: string) => z.number().int().min(min).max(max).default(def).describe(doc);

/**
 * A section of keys: documented, and filled in from its keys' defaults when the file leaves it out
 * (`{}` goes through the section's own parsing, so a key without a default still fails there).
 */
export const section = <Shape extends z.core.$ZodLooseShape>(doc: string, shape: Shape) =>
  z
    .strictObject(shape)
    .prefault({} as z.input<z.ZodObject<Shape, z.core.$strict>>)
    .describe(doc);
