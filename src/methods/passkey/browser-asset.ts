/**
 * The browser half of @simplewebauthn, served by the IdP itself as /assets/simplewebauthn-browser.js
 * (its UMD build: a classic script, so `script-src 'self'` covers it; no third party). Our own
 * views/assets/passkey.js drives it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BROWSER_BUNDLE = 'simplewebauthn-browser.js';

export async function passkeyAsset(name: string): Promise<Buffer | undefined> {
  if (name !== BROWSER_BUNDLE) return undefined;
  // esm/index.js through the package's exports map; the bundle sits beside it in dist/.
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.resolve('@simplewebauthn/browser'))));
  return readFile(path.join(root, 'dist/bundle/index.umd.min.js'));
}
