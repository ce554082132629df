/**
 * The organisation's logo from a file (`ui.logoFile`), served by the IdP itself at
 * /assets/logo.<ext>: no proxy and no outside host needed. Read once, checked at start.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../config/load.ts';

export const LOGO_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
};
export const LOGO_MAX_BYTES = 512 * 1024;

export interface Logo {
  content: Buffer;
  type: string;
}

/** The address the pages use for a logo file: /assets/logo.<ext> (under the IdP's base path). */
export function logoAssetPath(file: string): string {
  return `/assets/logo${path.extname(file).toLowerCase()}`;
}

/** Reads and checks the logo file; a ConfigError naming ui.logoFile when it can't be used. */
export async function readLogo(file: string, cwd = process.cwd()): Promise<Logo> {
  const type = LOGO_TYPES[path.extname(file).toLowerCase()];
  const fail = (message: string) => new ConfigError([{ path: 'ui.logoFile', message }]);
  if (!type) throw fail('must be an .svg, .png, .jpg or .webp file');
  let content: Buffer;
  try {
    content = await readFile(path.resolve(cwd, file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? `${file}: file not found` : `${file}: cannot be read (${code})`);
  }
  if (content.length === 0) throw fail(`${file}: the file is empty`);
  if (content.length > LOGO_MAX_BYTES) throw fail(`${file}: at most ${LOGO_MAX_BYTES / 1024} KiB, this file has ${Math.ceil(content.length / 1024)} KiB`);
  return { content, type };
}
