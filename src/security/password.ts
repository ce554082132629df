/** argon2id password hashing, off the event loop (libuv thread pool). */
import argon2 from 'argon2';
import { randomBytes } from 'node:crypto';

export interface Argon2Params {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

type HashOptions = Argon2Params & { type: 2 };

/** The argon2 functions a hasher uses: the argon2 package, or a wrapper of it (tests count calls). */
export interface Argon2Functions {
  hash(password: string, options: HashOptions): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  needsRehash(hash: string, options: Argon2Params): boolean;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Verifies; with `hash` undefined it burns the same time against a dummy hash and returns false. */
  verify(hash: string | null | undefined, password: string): Promise<boolean>;
  needsRehash(hash: string): boolean;
}

export interface Argon2Hasher extends PasswordHasher {
  /**
   * Computes the dummy hash for the parameters in force now, unless it is there already, and forgets
   * those of other parameters. Call it at startup and whenever the parameters change: otherwise the
   * first unknown-user sign-in with new parameters would pay for an extra hash, which tells.
   */
  prepare(): Promise<void>;
}

const paramsKey = (p: Argon2Params) => `${p.memoryCost}:${p.timeCost}:${p.parallelism}`;

/** Creates a hasher whose parameters are read on every call, so a config reload applies at once. */
export function createPasswordHasher(params: () => Argon2Params, impl: Argon2Functions = argon2): Argon2Hasher {
  const dummies = new Map<string, Promise<string>>();
  const options = (): HashOptions => ({ type: argon2.argon2id as 2, ...params() });
  const dummyFor = (): Promise<string> => {
    const key = paramsKey(params());
    let dummy = dummies.get(key);
    if (!dummy) {
      dummy = impl.hash(randomBytes(16).toString('hex'), options());
      // A failed computation is not kept: the next call tries again.
      dummy.catch(() => dummies.get(key) === dummy && dummies.delete(key));
      dummies.set(key, dummy);
    }
    return dummy;
  };

  return {
    hash: (password) => impl.hash(password, options()),
    async verify(hash, password) {
      if (!hash) {
        // Normally ready (prepare()); computed here only if nobody prepared these parameters.
        await impl.verify(await dummyFor(), password).catch(() => false);
        return false;
      }
      try {
        return await impl.verify(hash, password);
      } catch {
        // A malformed stored hash must not become a 500; it simply never matches.
        return false;
      }
    },
    needsRehash(hash) {
      try {
        return impl.needsRehash(hash, params());
      } catch {
        return true;
      }
    },
    async prepare() {
      const key = paramsKey(params());
      const current = dummyFor();
      for (const other of [...dummies.keys()]) if (other !== key) dummies.delete(other);
      await current;
    },
  };
}
