/**
 * Small secrets at rest (authenticator app seeds): AES-256-GCM with a random 96-bit IV per seal, in
 * a versioned text format `v1.<iv>.<ciphertext+tag>` (base64url). One 32-byte master key, configured
 * (sspr.secretsKey) or generated once and kept in the keystore table, serves every purpose through
 * labelled HKDF derivations (see deriveKey).
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { KeyStore } from '../store/keystore.ts';
import type { Clock } from '../clock.ts';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;

/** Fixed id of the generated key, so instances starting together on an empty database agree on one. */
export const INITIAL_SECRETS_KEY_ID = 'initial-secrets-key';

/** Labels of the keys derived from the master key. */
export const KEY_LABELS = {
  /** Encrypts authenticator app secrets (createSecretBox). */
  secretBox: 'secret-box',
  /** HMAC pepper of one-time codes (OneTimeCodes). */
  codePepper: 'one-time-codes',
} as const;

/** A sealed value that is malformed, was altered, or was sealed with another key or context. */
export class SecretBoxError extends Error {
  readonly code = 'sealed_secret_invalid';
  constructor(detail: string) {
    super(`sealed secret cannot be opened: ${detail}`);
    this.name = 'SecretBoxError';
  }
}

export interface SecretBox {
  /** Encrypts `plain`; `context` (e.g. the user id) is authenticated but not stored, and must be given again to open. */
  seal(plain: string, context?: string): string;
  /** Decrypts a sealed value; throws SecretBoxError when it is malformed or not authentic. */
  open(sealed: string, context?: string): string;
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) throw new TypeError(`key must be ${KEY_BYTES} bytes`);
}

const aad = (context: string | undefined) => Buffer.from(`oidc-sspr:${VERSION}:${context ?? ''}`, 'utf8');
const B64URL = /^[A-Za-z0-9_-]+$/;

export function createSecretBox(key: Buffer): SecretBox {
  checkKey(key);
  const k = Buffer.from(key);
  return {
    seal(plain, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', k, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad(context));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },
    open(sealed, context) {
      if (typeof sealed !== 'string') throw new SecretBoxError('not a string');
      const parts = sealed.split('.');
      if (parts.length !== 3) throw new SecretBoxError('malformed');
      const [version, ivText = '', bodyText = ''] = parts;
      if (version !== VERSION) throw new SecretBoxError(`unknown version ${JSON.stringify(version?.slice(0, 8))}`);
      if (!B64URL.test(ivText) || !B64URL.test(bodyText)) throw new SecretBoxError('malformed');
      const iv = Buffer.from(ivText, 'base64url');
      const body = Buffer.from(bodyText, 'base64url');
      if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new SecretBoxError('malformed');
      try {
        const decipher = createDecipheriv('aes-256-gcm', k, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(aad(context));
        decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
        return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretBoxError('not authentic');
      }
    },
  };
}

/** A 32-byte key for one purpose, derived from the master key with HKDF-SHA256 and a label. */
export function deriveKey(key: Buffer, label: string): Buffer {
  checkKey(key);
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `oidc-sspr:${label}`, KEY_BYTES));
}

/** The derived keys the recovery methods use: the secret box key and the one-time code pepper. */
export function secretKeys(master: Buffer): { secretBox: Buffer; codePepper: Buffer } {
  return { secretBox: deriveKey(master, KEY_LABELS.secretBox), codePepper: deriveKey(master, KEY_LABELS.codePepper) };
}

/** Decodes a configured key (43 base64url characters, 32 bytes). */
export function decodeSecretsKey(text: string): Buffer {
  const key = B64URL.test(text) ? Buffer.from(text, 'base64url') : Buffer.alloc(0);
  if (key.length !== KEY_BYTES || key.toString('base64url') !== text) throw new TypeError('secrets key must be 32 bytes, base64url (43 characters)');
  return key;
}

/**
 * The master secrets key: the configured one (sspr.secretsKey) when given, otherwise the key of kind
 * 'secrets' in the keystore, generated on first use with a fixed id (race-safe: of instances starting
 * together exactly one insert wins and all read it back). Not rotated: sealed secrets depend on it.
 */
export async function loadSecretsKey(keys: KeyStore, configured: string | undefined, clock: Clock): Promise<Buffer> {
  if (configured !== undefined) return decodeSecretsKey(configured);
  const now = clock.now();
  if ((await keys.active('secrets', now)).length === 0) {
    await keys.insertIfAbsent({
      id: INITIAL_SECRETS_KEY_ID,
      kind: 'secrets',
      material: randomBytes(KEY_BYTES).toString('base64url'),
      createdAt: now,
      retireAt: null,
    });
  }
  const active = await keys.active('secrets', now);
  const stored = active.find((k) => k.id === INITIAL_SECRETS_KEY_ID) ?? active[0];
  if (!stored) throw new Error('secrets key missing from the keystore');
  return decodeSecretsKey(stored.material);
}
