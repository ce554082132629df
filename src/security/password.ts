/** argon2id password hashing, off the event loop (libuv thread pool). */
import argon2 from 'argon2';
import { randomBytes } from 'node:crypto';

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Verifies; with `hash` undefined it burns the same time against a dummy hash and returns false. */
  verify(hash: string | null | undefined, password: string): Promise<boolean>;
  needsRehash(hash: string): boolean;
}

/** Creates a hasher whose parameters are read on every call, so a config reload applies at once. */
export function createPasswordHasher(params: () => Argon2Params): PasswordHasher {
  const dummies = new Map<string, Promise<string>>();
  const options = () => ({ type: argon2.argon2id as 2, ...params() });
  const dummyFor = () => {
    const p = params();
    const key = `${p.memoryCost}:${p.timeCost}:${p.parallelism}`;
    let dummy = dummies.get(key);
    if (!dummy) {
      dummy = argon2.hash(randomBytes(16).toString('hex'), options());
      dummies.set(key, dummy);
    }
    return dummy;
  };

  return {
    hash: (password) => argon2.hash(password, options()),
    async verify(hash, password) {
      if (!hash) {
        await argon2.verify(await dummyFor(), password).catch(() => false);
        return false;
      }
      try {
        return await argon2.verify(hash, password);
      } catch {
        // A malformed stored hash must not become a 500; it simply never matches.
        return false;
      }
    },
    needsRehash(hash) {
      try {
        return argon2.needsRehash(hash, params());
      } catch {
        return true;
      }
    },
  };
}
