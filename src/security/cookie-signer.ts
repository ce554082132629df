/**
 * Signs cookies for Koa and oidc-provider (both take a Keygrip-like `keys` object). Same format as
 * the keygrip package — HMAC-SHA1, base64url without padding, keys newest first — so cookies
 * signed before keep verifying, but cheaper on every request: each key is a KeyObject made once,
 * and a signature is compared with crypto.timingSafeEqual instead of tsscmp's two extra HMACs
 * under fresh random bytes. Every cookie read verifies and every cookie set signs, a dozen times
 * per login.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

export interface CookieSigner {
  sign(data: string): string;
  verify(data: string, digest: string): boolean;
  /** Index of the key that made `digest`, -1 if none did. */
  index(data: string, digest: string): number;
}

export function createCookieSigner(keys: readonly string[]): CookieSigner {
  if (!keys.length) throw new Error('cookie signing needs at least one key');
  const secrets: KeyObject[] = keys.map((key) => createSecretKey(Buffer.from(key)));
  const mac = (data: string, key: KeyObject) => createHmac('sha1', key).update(data).digest('base64url');
  const index = (data: string, digest: string) => {
    if (typeof digest !== 'string') return -1;
    const given = Buffer.from(digest);
    for (let i = 0; i < secrets.length; i += 1) {
      const expected = Buffer.from(mac(data, secrets[i]!));
      if (expected.length === given.length && timingSafeEqual(expected, given)) return i;
    }
    return -1;
  };
  return {
    sign: (data) => mac(data, secrets[0]!),
    verify: (data, digest) => index(data, digest) > -1,
    index,
  };
}
