/**
 * The self-hosted proof-of-work CAPTCHA (ALTCHA) in front of "Can't access your account?".
 *
 * Protocol: ALTCHA v2 (altcha-lib 2, the widget's native format), in its deterministic mode with
 * the SHA-256 algorithm. For each challenge the server picks a random counter in 1..maxNumber,
 * hashes it (SHA-256 of salt ‖ nonce ‖ counter) and hands out the first 16 bytes of the hash as
 * `keyPrefix`; the browser tries counters from 0 upwards until its hash starts with that prefix,
 * so `sspr.captcha.maxNumber` is the largest number of hashes a browser may have to compute, as in
 * ALTCHA v1. The parameters, including `expiresAt` (seconds), are signed with HMAC-SHA-256 under a
 * key derived from the master secrets key (`deriveKey(master, CAPTCHA_KEY_LABEL)`). Verification
 * checks the shape, the expiry against the injected clock (altcha-lib itself compares with
 * Date.now(), which then only ever agrees in production), the signature and the solution, and
 * finally records the signature in `captcha_solutions` so each solved challenge passes once,
 * across instances.
 *
 * The widget (the `altcha` package, v3), served by the assets middleware (see captchaAsset):
 *
 *   <script type="module" src="{base}/assets/altcha.js"></script>
 *   <form method="post" …>
 *     <altcha-widget challenge="{base}/reset/captcha" name="altcha"></altcha-widget>
 *   </form>
 *
 * - `challenge` is the URL the widget GETs a fresh challenge from: a route answering
 *   `await captcha.challenge()` as JSON (with Cache-Control: no-store). The v1 attribute name
 *   `challengeurl` is ignored by widget v3.
 * - `name` is the hidden form field the widget fills with its payload (base64 JSON); the route that
 *   receives the form calls `captcha.verify(body.altcha)`.
 * - Further options go in a JSON `configuration` attribute, e.g.
 *   `configuration='{"hideFooter":true,"hideLogo":true}'`; `auto="onload"` starts solving at once.
 * - Language: English built in; Dutch is loaded too and chosen from `<html lang="nl">`, or force
 *   one with `language="nl"`.
 * - The widget needs a secure context (https, or http://localhost): it relies on Web Crypto.
 *
 * `/assets/altcha.js` is a small module that loads the widget's "external" build (no Web Workers
 * from blob:/data: URLs, no injected <style>), registers the SHA worker served from
 * `/assets/altcha-worker-sha.js` and links `/assets/altcha.css`. So the strict CSP stands as it is:
 * `script-src 'self'` also covers same-origin workers (worker-src falls back to it), and
 * `style-src 'self'` the stylesheet. The default build would need `worker-src blob:` and
 * `style-src 'unsafe-inline'`. A page may link `{base}/assets/altcha.css` in its <head> itself, to
 * avoid a flash of unstyled widget; the module then adds no second link.
 */
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createChallenge, verifySolution } from 'altcha-lib';
import type { Challenge, Solution } from 'altcha-lib';
import { deriveKey as shaDeriveKey } from 'altcha-lib/algorithms/sha';
import type { CaptchaStore } from '../store/captcha.ts';
import type { Clock } from '../clock.ts';
import type { SsprConfig } from '../config/sspr-schema.ts';

/** Label of the CAPTCHA's HMAC key: `deriveKey(master, CAPTCHA_KEY_LABEL)`. */
export const CAPTCHA_KEY_LABEL = 'captcha';

const ALGORITHM = 'SHA-256';
const KEY_LENGTH = 32;
/** An honest payload is under 1 KB of base64; anything much larger is refused unread. */
const MAX_PAYLOAD_CHARS = 4096;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const HEX = /^[0-9a-f]+$/;

/** A challenge as the widget reads it from its `challenge` URL (ALTCHA v2 JSON). */
export interface CaptchaChallenge {
  parameters: {
    algorithm: string;
    nonce: string;
    salt: string;
    cost: number;
    keyLength: number;
    keyPrefix: string;
    /** Seconds since the epoch. */
    expiresAt: number;
  };
  signature: string;
}

export interface CaptchaDeps {
  store: CaptchaStore;
  clock: Clock;
  /** HMAC key: `deriveKey(master, CAPTCHA_KEY_LABEL)`. */
  key: Buffer;
  config: () => SsprConfig['captcha'];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isHex = (v: unknown, maxLength: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= maxLength && v.length % 2 === 0 && HEX.test(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

interface ParsedPayload {
  challenge: Challenge & { signature: string; parameters: { expiresAt: number } };
  solution: Solution;
}

/** The widget's payload, decoded and checked for shape; undefined for anything else. */
function parsePayload(payload: unknown): ParsedPayload | undefined {
  if (typeof payload !== 'string' || payload.length === 0 || payload.length > MAX_PAYLOAD_CHARS) return undefined;
  if (payload.length % 4 !== 0 || !BASE64.test(payload)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(payload, 'base64').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(data) || !isRecord(data.challenge) || !isRecord(data.solution)) return undefined;
  const { parameters: p, signature } = data.challenge;
  const { counter, derivedKey } = data.solution;
  if (!isRecord(p) || !isHex(signature, 128)) return undefined;
  if (p.algorithm !== ALGORITHM || p.keyLength !== KEY_LENGTH || p.cost !== 1) return undefined;
  if (!isHex(p.nonce, 64) || !isHex(p.salt, 64) || !isHex(p.keyPrefix, KEY_LENGTH * 2)) return undefined;
  if (!isCount(p.expiresAt) || p.expiresAt === 0) return undefined;
  if (!isCount(counter) || counter > 0xffffffff || !isHex(derivedKey, KEY_LENGTH * 2)) return undefined;
  // The parameters are passed on as received: the signature covers every key, known or not.
  return {
    challenge: { parameters: p as unknown as ParsedPayload['challenge']['parameters'], signature },
    solution: { counter, derivedKey },
  };
}

export class Captcha {
  readonly #store: CaptchaStore;
  readonly #clock: Clock;
  readonly #secret: string;
  readonly #config: () => SsprConfig['captcha'];

  constructor(deps: CaptchaDeps) {
    if (!Buffer.isBuffer(deps.key) || deps.key.length < 16) throw new TypeError('captcha key must be at least 16 bytes');
    this.#store = deps.store;
    this.#clock = deps.clock;
    // altcha-lib takes the HMAC secret as a string (and uses its UTF-8 bytes).
    this.#secret = deps.key.toString('base64url');
    this.#config = deps.config;
  }

  /** A fresh challenge for the widget's `challenge` URL; solvable for expireMinutes. */
  async challenge(): Promise<CaptchaChallenge> {
    const { maxNumber, expireMinutes } = this.#config();
    const expiresAt = Math.floor((this.#clock.now() + expireMinutes * 60_000) / 1000);
    const created = await createChallenge({
      algorithm: ALGORITHM,
      cost: 1,
      keyLength: KEY_LENGTH,
      counter: randomInt(1, maxNumber + 1),
      deriveKey: shaDeriveKey,
      expiresAt,
      hmacSignatureSecret: this.#secret,
    });
    const p = created.parameters;
    if (created.signature === undefined || p.expiresAt === undefined) throw new Error('altcha-lib returned an unsigned challenge');
    return {
      parameters: { algorithm: p.algorithm, nonce: p.nonce, salt: p.salt, cost: p.cost, keyLength: p.keyLength, keyPrefix: p.keyPrefix, expiresAt: p.expiresAt },
      signature: created.signature,
    };
  }

  /**
   * Whether the widget's payload (the `altcha` form field) proves a solved challenge of ours that
   * has not expired and was not used before; it is used up by this call. Never throws for bad input.
   */
  async verify(payload: string | undefined): Promise<boolean> {
    const parsed = parsePayload(payload);
    if (!parsed) return false;
    const expiresAtMs = parsed.challenge.parameters.expiresAt * 1000;
    if (this.#clock.now() > expiresAtMs) return false;
    let verified: boolean;
    try {
      const result = await verifySolution({
        challenge: parsed.challenge,
        solution: parsed.solution,
        deriveKey: shaDeriveKey,
        hmacSignatureSecret: this.#secret,
      });
      verified = result.verified;
    } catch {
      return false;
    }
    if (!verified) return false;
    return this.#store.markUsed(parsed.challenge.signature, expiresAtMs);
  }
}

/** The widget's files as served under /assets/: name → file in the altcha package's dist folder. */
const WIDGET_FILES: Readonly<Record<string, string>> = {
  'altcha-widget.js': 'external/altcha.min.js',
  'altcha.css': 'external/altcha.css',
  'altcha-worker-sha.js': 'workers/sha.js',
  'altcha-i18n-nl.js': 'i18n/nl.js',
};

/** `/assets/altcha.js`: loads the widget and wires it up for the strict CSP (see the top of this file). */
const WIDGET_LOADER = `// ALTCHA widget for oidc-sspr (src/security/captcha.ts): the external build, workers and CSS served
// from this folder, so that no blob: worker and no inline style is needed.
import './altcha-widget.js';
import './altcha-i18n-nl.js';
const worker = () => new Worker(new URL('altcha-worker-sha.js', import.meta.url), { name: 'altcha' });
for (const algorithm of ['SHA-256', 'SHA-384', 'SHA-512']) globalThis.$altcha.algorithms.set(algorithm, worker);
const css = new URL('altcha.css', import.meta.url).href;
if (![...document.querySelectorAll('link[rel="stylesheet"]')].some((link) => link.href === css)) {
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = css;
  document.head.append(link);
}
`;

/**
 * The content of one of the widget's files served under /assets/ (`altcha.js`, `altcha-widget.js`,
 * `altcha.css`, `altcha-worker-sha.js`, `altcha-i18n-nl.js`), or undefined for any other name.
 */
export async function captchaAsset(name: string): Promise<Buffer | undefined> {
  if (name === 'altcha.js') return Buffer.from(WIDGET_LOADER, 'utf8');
  const file = Object.hasOwn(WIDGET_FILES, name) ? WIDGET_FILES[name] : undefined;
  if (file === undefined) return undefined;
  // dist/external/altcha.js, through the package's exports map.
  const dist = path.dirname(path.dirname(fileURLToPath(import.meta.resolve('altcha/external'))));
  return readFile(path.join(dist, file));
}
