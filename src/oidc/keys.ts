/**
 * Signing and cookie keys: generated on first run, stored in the database so restarts and other
 * instances reuse them, rotated by `oidc-sspr keys rotate`.
 */
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import type { KeyStore, StoredKey } from '../store/keystore.ts';
import type { Clock } from '../clock.ts';

export type SigningAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

export interface PrivateJwk {
  kid: string;
  alg: string;
  use: 'sig';
  kty: string;
  [member: string]: unknown;
}

export interface LoadedKeys {
  /** Private JWKs, newest first: oidc-provider signs with the first and publishes all. */
  jwks: PrivateJwk[];
  /** Cookie signing secrets, newest first. */
  cookieKeys: string[];
}

function generatePair(alg: SigningAlgorithm): KeyObject {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'EdDSA':
      return generateKeyPairSync('ed25519').privateKey;
    default:
      return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  }
}

export function generateSigningKey(alg: SigningAlgorithm, id: string, now: number): StoredKey {
  const jwk = { ...generatePair(alg).export({ format: 'jwk' }), kid: id, alg, use: 'sig' };
  return { id, kind: 'signing', material: JSON.stringify(jwk), createdAt: now, retireAt: null };
}

export function generateCookieKey(id: string, now: number): StoredKey {
  return { id, kind: 'cookie', material: randomBytes(32).toString('base64url'), createdAt: now, retireAt: null };
}

/**
 * Makes sure a signing key and a cookie key exist, then loads all keys in force. The first keys
 * have fixed ids, so instances starting together on an empty database agree on one set.
 */
export async function ensureKeys(keys: KeyStore, alg: SigningAlgorithm, clock: Clock): Promise<LoadedKeys> {
  const now = clock.now();
  if ((await keys.active('signing', now)).length === 0) {
    await keys.insertIfAbsent(generateSigningKey(alg, 'initial-signing-key', now));
  }
  if ((await keys.active('cookie', now)).length === 0) {
    await keys.insertIfAbsent(generateCookieKey('initial-cookie-key', now));
  }
  const signing = await keys.active('signing', now);
  const cookie = await keys.active('cookie', now);
  return {
    jwks: signing.map((k) => JSON.parse(k.material) as PrivateJwk),
    cookieKeys: cookie.map((k) => k.material),
  };
}

/**
 * Adds a new signing key; older keys stay published until `retireAfterSeconds` has passed,
 * long enough for every token they signed to expire. Returns the new key id.
 */
export async function rotateSigningKey(keys: KeyStore, alg: SigningAlgorithm, clock: Clock, retireAfterSeconds: number): Promise<{ kid: string; retiring: number }> {
  const now = clock.now();
  const kid = `${new Date(now).toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;
  const retiring = await keys.rotate(generateSigningKey(alg, kid, now), now + retireAfterSeconds * 1000);
  await keys.purgeRetired(now);
  return { kid, retiring };
}
