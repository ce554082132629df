/** Reads an application/x-www-form-urlencoded body with a size limit and strict field rules. */
import coBody from 'co-body';
import type { Context } from 'koa';
import { AppError } from '../errors.ts';

export type Form = Record<string, string>;

/**
 * Parses the form. A field sent twice, a body over the limit or another content type is a clear
 * 4xx error; field values are strings with NUL characters refused.
 */
export async function readForm(ctx: Context, limitKb: number): Promise<Form> {
  if (!ctx.request.is('application/x-www-form-urlencoded')) {
    throw new AppError('unsupported_media_type', 'expected a form post');
  }
  let text: string;
  try {
    text = await coBody.text(ctx.req, { limit: `${limitKb}kb`, encoding: 'utf8' });
  } catch (error) {
    const e = error as { status?: number; type?: string };
    if (e.status === 413 || e.type === 'entity.too.large') throw new AppError('body_too_large');
    throw new AppError('malformed_body', 'unreadable body');
  }
  const form: Form = {};
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(text);
  } catch {
    throw new AppError('malformed_body');
  }
  for (const [key, value] of params) {
    if (Object.hasOwn(form, key)) throw new AppError('repeated_field', `field ${key} sent twice`);
    if (value.includes('\u0000') || value.includes('\uFFFD')) throw new AppError('invalid_characters', `field ${key} has invalid characters`);
    form[key] = value;
  }
  return form;
}
