/** Account administration and password sign-in; no HTTP here. */
import { randomUUID } from 'node:crypto';
import type { Store, User, PasswordSource } from '../store/index.ts';
import type { PasswordHasher } from '../security/password.ts';
import type { Clock } from '../clock.ts';
import { AppError } from '../errors.ts';
import {
  normaliseUsername,
  usernameKey,
  usernameSkeleton,
  tryUsernameKey,
  normaliseDisplayName,
  normaliseEmail,
  normaliseGroupName,
  checkPasswordShape,
} from './names.ts';

export interface NewUserInput {
  username: string;
  displayName?: string;
  email?: string;
  password?: string;
  passwordSource?: PasswordSource;
}

export type SignInResult =
  | { ok: true; user: User }
  | { ok: false; reason: 'unknown_user' | 'wrong_password' | 'disabled' | 'no_password' | 'locked'; userId?: string; lockedNow?: boolean };

/** A password check outside the store: true/false for users it knows, undefined for the others; throws when it can't answer. */
export type ExternalPasswordCheck = (user: User, password: string) => Promise<boolean | undefined>;

export interface LockoutPolicy {
  threshold: number;
  durationSeconds: number;
  growth: number;
  maxDurationSeconds: number;
}

/** An id no account has (ids are random UUIDs): unknown accounts are looked up under it, so they cost the store what real ones do. */
export const NO_ACCOUNT = '00000000-0000-0000-0000-000000000000';

export const userNotFound = (username: string) => new AppError('user_not_found', `no user ${username}`);

export class UserService {
  readonly #store: Store;
  readonly #hasher: PasswordHasher;
  readonly #clock: Clock;
  readonly #lockout: (() => LockoutPolicy) | undefined;
  readonly #external: ExternalPasswordCheck | undefined;

  /**
   * Without `lockout`, failed sign-ins are not counted (the CLI checks no passwords). `external`
   * checks the passwords of users kept elsewhere (the directory: src/directory/runtime.ts).
   */
  constructor(store: Store, hasher: PasswordHasher, clock: Clock, lockout?: () => LockoutPolicy, external?: ExternalPasswordCheck) {
    this.#store = store;
    this.#hasher = hasher;
    this.#clock = clock;
    this.#lockout = lockout;
    this.#external = external;
  }

  /** The external check when it knows the user, else the local hash. */
  async #verify(user: User, password: string): Promise<{ valid: boolean; external: boolean }> {
    const external = await this.#external?.(user, password);
    if (external !== undefined) return { valid: external, external: true };
    return { valid: await this.#hasher.verify(user.passwordHash, password), external: false };
  }

  async create(input: NewUserInput): Promise<User> {
    const username = normaliseUsername(input.username);
    const displayName = normaliseDisplayName(input.displayName ?? username);
    const email = input.email ? normaliseEmail(input.email) : null;
    if (input.password !== undefined) checkPasswordShape(input.password);
    const passwordHash = input.password !== undefined ? await this.#hasher.hash(input.password) : null;
    return this.#store.users.create({
      id: randomUUID(),
      username,
      usernameKey: usernameKey(username),
      usernameSkeleton: usernameSkeleton(username),
      displayName,
      email,
      emailVerified: false,
      passwordSource: input.passwordSource ?? 'cloud',
      passwordHash,
      now: this.#clock.now(),
    });
  }

  /** The existing user a new username could be mistaken for (same confusable skeleton), if any. */
  async lookalike(username: string): Promise<string | undefined> {
    const name = normaliseUsername(username);
    return this.#store.users.lookalike(usernameSkeleton(name), usernameKey(name));
  }

  /** Finds a user by username (any case); undefined for a name that can't exist. */
  async find(username: string): Promise<User | undefined> {
    const key = tryUsernameKey(username);
    return key ? this.#store.users.findByUsernameKey(key) : undefined;
  }

  byId(id: string): Promise<User | undefined> {
    return this.#store.users.findById(id);
  }

  async require(username: string): Promise<User> {
    const user = await this.find(username);
    if (!user) throw userNotFound(username);
    return user;
  }

  list(options?: { limit?: number; offset?: number }): Promise<User[]> {
    return this.#store.users.list(options);
  }

  groupsOf(userId: string): Promise<string[]> {
    return this.#store.users.groupsOf(userId);
  }

  /** An administrator's reset: also ends every session, grant and token of the account. */
  async setPassword(username: string, password: string): Promise<User> {
    const user = await this.require(username);
    checkPasswordShape(password);
    if (!(await this.#store.users.resetPassword(user.id, await this.#hasher.hash(password), this.#clock.now()))) throw userNotFound(username);
    return user;
  }

  /**
   * Disabling also ends every session (sign-in and /security-info), revokes every token and forgets
   * every remembered device of the account.
   */
  async setStatus(username: string, status: 'enabled' | 'disabled'): Promise<void> {
    const user = await this.require(username);
    await this.#store.users.update(user.id, { status }, this.#clock.now());
    if (status === 'disabled') await this.#store.oidc.signOutEverywhere(user.id);
  }

  /** Ends a sign-in lockout. */
  async unlock(username: string): Promise<void> {
    const user = await this.require(username);
    await this.#store.users.unlock(user.id, this.#clock.now());
  }

  async setSource(username: string, passwordSource: PasswordSource): Promise<void> {
    const user = await this.require(username);
    await this.#store.users.update(user.id, { passwordSource }, this.#clock.now());
  }

  async update(username: string, patch: { displayName?: string; email?: string | null }): Promise<void> {
    const user = await this.require(username);
    await this.#store.users.update(
      user.id,
      {
        displayName: patch.displayName === undefined ? undefined : normaliseDisplayName(patch.displayName),
        email: patch.email === undefined ? undefined : patch.email === null ? null : normaliseEmail(patch.email),
        emailVerified: patch.email === undefined ? undefined : false,
      },
      this.#clock.now(),
    );
  }

  async delete(username: string): Promise<void> {
    const user = await this.require(username);
    await this.#store.oidc.revokeAccount(user.id);
    await this.#store.users.delete(user.id);
  }

  async addToGroup(username: string, group: string): Promise<boolean> {
    const user = await this.require(username);
    const { name, key } = normaliseGroupName(group);
    return this.#store.users.addToGroup(user.id, name, key, this.#clock.now());
  }

  async removeFromGroup(username: string, group: string): Promise<boolean> {
    const user = await this.require(username);
    return this.#store.users.removeFromGroup(user.id, normaliseGroupName(group).key);
  }

  /**
   * Checks a username and password. Unknown users are verified against a dummy hash, after and
   * before the same statements as a wrong password, so the answer takes as long as for a real
   * account; a hash with outdated parameters is upgraded on success.
   *
   * With a lockout policy each attempt is counted as a failure before its password is checked
   * (claimSignIn: one conditional UPDATE, shared by every instance), so however many guesses arrive
   * at once, at most `threshold` of them are checked before the account locks; the rest, and every
   * attempt while locked (the right password too), only burn a dummy verification and get the
   * usual answer. A correct password takes its attempt back and starts the count again, unless a
   * lock came first.
   */
  async signIn(username: string, password: string): Promise<SignInResult> {
    const user = await this.find(username);
    const policy = this.#lockout?.();
    const now = this.#clock.now();
    if (!user) {
      // The store work of a wrong password for a real account (claim the attempt, then the lock
      // check), on an id no account has: timing doesn't tell whether the account exists.
      if (policy) await this.#store.users.claimSignIn(NO_ACCOUNT, now, policy.threshold);
      await this.#hasher.verify(undefined, password);
      if (policy) await this.#store.users.lockIfOver(NO_ACCOUNT, now, policy.threshold, () => 0);
      return { ok: false, reason: 'unknown_user' };
    }
    const lockFor = (previous: number) => (policy ? Math.min(policy.durationSeconds * policy.growth ** previous, policy.maxDurationSeconds) * 1000 : 0);
    const locked = async (lockedNow: boolean): Promise<SignInResult> => {
      await this.#hasher.verify(undefined, password);
      return { ok: false, reason: 'locked', userId: user.id, lockedNow };
    };
    if (policy) {
      if (!(await this.#store.users.claimSignIn(user.id, now, policy.threshold))) {
        // Locked, or `threshold` attempts already counted (in flight, or left over when the threshold
        // was lowered): the latter locks now, so the account never stays refused without a lock end.
        return locked((await this.#store.users.lockIfOver(user.id, now, policy.threshold, lockFor)) !== null);
      }
    } else if (user.lockedUntil !== null && user.lockedUntil > now) {
      return locked(false);
    }
    let checked: { valid: boolean; external: boolean };
    try {
      checked = await this.#verify(user, password);
    } catch (error) {
      // No answer (the directory is down): not a failed attempt.
      if (policy) await this.#store.users.releaseSignIn(user.id);
      throw error;
    }
    if (!checked.valid) {
      const lockedUntil = policy ? await this.#store.users.lockIfOver(user.id, now, policy.threshold, lockFor) : null;
      return { ok: false, reason: user.passwordHash || checked.external ? 'wrong_password' : 'no_password', userId: user.id, lockedNow: lockedUntil !== null };
    }
    if (user.status !== 'enabled') {
      if (policy) await this.#store.users.releaseSignIn(user.id);
      return { ok: false, reason: 'disabled', userId: user.id };
    }
    // A lock set while this password was being checked (by concurrent failures) holds.
    if (policy && !(await this.#store.users.recordSignIn(user.id, now))) return { ok: false, reason: 'locked', userId: user.id };
    if (!checked.external && this.#hasher.needsRehash(user.passwordHash!)) {
      await this.#store.users.setPasswordHash(user.id, await this.#hasher.hash(password), this.#clock.now(), false);
    }
    return { ok: true, user };
  }
}
