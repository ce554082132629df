/**
 * Loaded by ava in every test worker (package.json "ava.require"). With OIDC_SSPR_FILE_TIMES set to
 * a file path, each worker appends how long it lived (milliseconds, import to exit) and its test
 * file, one tab-separated line each: `sort -rn "$OIDC_SSPR_FILE_TIMES" | head` names the files that
 * dominate the suite. Without the variable it does nothing.
 */
import test from 'ava';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const out = process.env.OIDC_SSPR_FILE_TIMES;
if (out) {
  const file = path.relative(process.cwd(), fileURLToPath(test.meta.file));
  process.on('exit', () => appendFileSync(out, `${Math.round(process.uptime() * 1000)}\t${file}\n`));
}
