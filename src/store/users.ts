/** Users and groups: the only place their SQL lives. */
import { rowsOf, fixedStatement } from './raw.ts';
import { signOutEverywhereIn } from './oidc-payloads.ts';
import { Repository } from './repository.ts';

export type UserStatus = 'enabled' | 'disabled';
export type PasswordSource = 'cloud' | 'onpremises';

export interface User {
  id: string;
  username: string;
  displayName: string;
  email: string | null;
  emailVerified: boolean;
  status: UserStatus;
  passwordSource: PasswordSource;
  passwordHash: string | null;
  passwordChangedAt: number | null;
  /** Locked out of sign-in until this moment (null: not locked). */
  lockedUntil: number | null;
  /** Consecutive failed sign-ins, and lockouts so far (lockouts grow longer). */
  failedSignins: number;
  lockouts: number;
  createdAt: number;
  updatedAt: number;
}

export interface NewUser {
  id: string;
  username: string;
  usernameKey: string;
  /** Confusable skeleton of the username (users/names.ts): a name another one's skeleton equals is refused. */
  usernameSkeleton: string;
  displayName: string;
  email: string | null;
  emailVerified: boolean;
  passwordSource: PasswordSource;
  passwordHash: string | null;
  now: number;
}

export type UserPatch = Partial<Pick<User, 'displayName' | 'email' | 'emailVerified' | 'status' | 'passwordSource'>>;

interface UserRow {
  id: string;
  username: string;
  username_key: string;
  display_name: string;
  email: string | null;
  email_verified: boolean | number;
  status: string;
  password_source: string;
  password_hash: string | null;
  password_changed_at: string | number | null;
  locked_until?: string | number | null;
  failed_signins?: string | number;
  lockouts?: string | number;
  created_at: string | number;
  updated_at: string | number;
}

/** The columns toUser reads, named: a fixed statement never says `select *` (raw.ts). */
const USER_COLUMNS =
  'id, username, username_key, display_name, email, email_verified, status, password_source, password_hash, ' +
  'password_changed_at, locked_until, failed_signins, lockouts, created_at, updated_at';
const BY_ID = `select ${USER_COLUMNS} from users where id = ? limit 1`;
const BY_USERNAME_KEY = `select ${USER_COLUMNS} from users where username_key = ? limit 1`;
const NOT_LOCKED = '(locked_until is null or locked_until <= ?)';
const CLAIM_SIGNIN = `update users set failed_signins = failed_signins + 1 where id = ? and failed_signins < ? and ${NOT_LOCKED} returning id`;
const RECORD_SIGNIN = `update users set failed_signins = 0, lockouts = 0 where id = ? and ${NOT_LOCKED} returning id`;

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    email: row.email,
    emailVerified: Boolean(row.email_verified),
    status: row.status === 'disabled' ? 'disabled' : 'enabled',
    passwordSource: row.password_source === 'onpremises' ? 'onpremises' : 'cloud',
    passwordHash: row.password_hash,
    passwordChangedAt: num(row.password_changed_at),
    lockedUntil: num(row.locked_until ?? null),
    failedSignins: Number(row.failed_signins ?? 0),
    lockouts: Number(row.lockouts ?? 0),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** Thrown when a unique key (username, group name) is already taken. */
export class DuplicateError extends Error {
  constructor(what: string) {
    super(`${what} already exists`);
    this.name = 'DuplicateError';
  }
}

/** A new username looks like an existing one (the same confusable skeleton). */
export class ConfusableUsernameError extends DuplicateError {
  readonly existing: string;
  constructor(username: string, existing: string) {
    super(`user ${username}`);
    this.name = 'ConfusableUsernameError';
    this.existing = existing;
    this.message = `username ${username} can be mistaken for the existing user ${existing}: choose a name that looks different`;
  }
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e.code === '23505' || e.code === 'SQLITE_CONSTRAINT' || /UNIQUE constraint failed/.test(e.message ?? '');
}

export class UserStore extends Repository {
  /** The username of another user (another username_key) whose name has this skeleton, if any. */
  async lookalike(usernameSkeleton: string, usernameKey: string): Promise<string | undefined> {
    const row = await this.db('users').where({ username_skeleton: usernameSkeleton }).whereNot({ username_key: usernameKey }).first('username');
    return row ? (row.username as string) : undefined;
  }

  /** Refuses a username that looks like another's (ConfusableUsernameError) or is taken (DuplicateError). */
  async create(user: NewUser): Promise<User> {
    const lookalike = await this.lookalike(user.usernameSkeleton, user.usernameKey);
    if (lookalike) throw new ConfusableUsernameError(user.username, lookalike);
    try {
      await this.db('users').insert({
        id: user.id,
        username: user.username,
        username_key: user.usernameKey,
        username_skeleton: user.usernameSkeleton,
        display_name: user.displayName,
        email: user.email,
        email_verified: user.emailVerified,
        status: 'enabled',
        password_source: user.passwordSource,
        password_hash: user.passwordHash,
        password_changed_at: user.passwordHash ? user.now : null,
        created_at: user.now,
        updated_at: user.now,
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new DuplicateError(`user ${user.username}`);
      throw error;
    }
    return (await this.findById(user.id))!;
  }

  // Fixed SQL text (knex.raw, valid on both databases): every sign-in and token request reads a
  // user, and building the query each time cost more than running it.
  async findById(id: string): Promise<User | undefined> {
    const row = rowsOf<UserRow>(await fixedStatement(this.db, BY_ID, [id]))[0];
    return row ? toUser(row) : undefined;
  }

  async findByUsernameKey(usernameKey: string): Promise<User | undefined> {
    const row = rowsOf<UserRow>(await fixedStatement(this.db, BY_USERNAME_KEY, [usernameKey]))[0];
    return row ? toUser(row) : undefined;
  }

  async list(options: { limit?: number; offset?: number } = {}): Promise<User[]> {
    const rows = await this.db<UserRow>('users')
      .orderBy('username_key')
      .limit(options.limit ?? 1000)
      .offset(options.offset ?? 0);
    return rows.map(toUser);
  }

  /** Applies a patch; returns false when the user doesn't exist. */
  async update(id: string, patch: UserPatch, now: number): Promise<boolean> {
    const row: Record<string, unknown> = { updated_at: now };
    if (patch.displayName !== undefined) row.display_name = patch.displayName;
    if (patch.email !== undefined) row.email = patch.email;
    if (patch.emailVerified !== undefined) row.email_verified = patch.emailVerified;
    if (patch.status !== undefined) {
      row.status = patch.status;
      // An administrator's choice: the directory sync no longer re-enables (see store/directory.ts).
      row.disabled_by = null;
    }
    if (patch.passwordSource !== undefined) row.password_source = patch.passwordSource;
    return (await this.db('users').where({ id }).update(row)) > 0;
  }

  /** Replaces the password hash. `changed` is false for a transparent rehash (same password). */
  async setPasswordHash(id: string, hash: string, now: number, changed: boolean): Promise<boolean> {
    const row: Record<string, unknown> = { password_hash: hash, updated_at: now };
    if (changed) row.password_changed_at = now;
    return (await this.db('users').where({ id }).update(row)) > 0;
  }

  /**
   * An administrator's password reset: the new hash and, in the same transaction, the end of every
   * session, grant and token of the account, as after a self-service reset. False for no such user.
   */
  async resetPassword(id: string, hash: string, now: number): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      if (!(await trx('users').where({ id }).update({ password_hash: hash, password_changed_at: now, updated_at: now }))) return false;
      await signOutEverywhereIn(trx, id);
      return true;
    });
  }

  /**
   * Claims one sign-in attempt before its password is checked: counts it as a failure in advance,
   * only while the account is not locked (at `now`) and fewer than `threshold` attempts are counted.
   * One conditional UPDATE, so of concurrent claims from any instance at most `threshold` succeed.
   * False when the account is locked or its attempts are used up; a correct password then takes
   * the attempt back with recordSignIn() (or releaseSignIn()).
   */
  async claimSignIn(id: string, now: number, threshold: number): Promise<boolean> {
    return rowsOf(await fixedStatement(this.db, CLAIM_SIGNIN, [id, threshold, now])).length > 0;
  }

  /**
   * Locks the account when `threshold` or more failures are counted and it isn't locked yet: for
   * `lockFor(previousLockouts)` ms, the failures starting again at 0. Returns the lock end when this
   * call locked it, null otherwise (below the threshold, or another caller locked it first).
   */
  async lockIfOver(id: string, now: number, threshold: number, lockFor: (previousLockouts: number) => number): Promise<number | null> {
    // Compare-and-set on the lockout count: the duration depends on it, and of concurrent callers
    // exactly one changes the row; the others see it locked (or no longer over) and stop.
    for (let round = 0; round < 10; round += 1) {
      const row = await this.db('users').where({ id }).first<{ failed_signins: number | string; lockouts: number | string; locked_until: number | string | null } | undefined>('failed_signins', 'lockouts', 'locked_until');
      if (!row || Number(row.failed_signins) < threshold || (row.locked_until !== null && Number(row.locked_until) > now)) return null;
      const lockouts = Number(row.lockouts);
      const until = now + lockFor(lockouts);
      const changed = await this.db('users')
        .where({ id, lockouts })
        .andWhere('failed_signins', '>=', threshold)
        .andWhere((q) => q.whereNull('locked_until').orWhere('locked_until', '<=', now))
        .update({ locked_until: until, lockouts: lockouts + 1, failed_signins: 0 });
      if (changed > 0) return until;
    }
    return null;
  }

  /**
   * A successful sign-in: the failure count and the lockout history start again. Only while the
   * account is not locked at `now`: false when a lock came first (the sign-in must then fail).
   */
  async recordSignIn(id: string, now: number): Promise<boolean> {
    return rowsOf(await fixedStatement(this.db, RECORD_SIGNIN, [id, now])).length > 0;
  }

  /** Takes back an attempt claimed with claimSignIn() that turned out not to be a failure. */
  async releaseSignIn(id: string): Promise<void> {
    await this.db('users').where({ id }).andWhere('failed_signins', '>', 0).decrement('failed_signins', 1);
  }

  /** Ends a lockout (administrator action). Returns false when the user doesn't exist. */
  async unlock(id: string, now: number): Promise<boolean> {
    return (await this.db('users').where({ id }).update({ locked_until: null, failed_signins: 0, updated_at: now })) > 0;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db('users').where({ id }).delete()) > 0;
  }

  async groupsOf(userId: string): Promise<string[]> {
    const rows = await this.db('user_groups')
      .join('groups', 'groups.id', 'user_groups.group_id')
      .where('user_groups.user_id', userId)
      .orderBy('groups.name_key')
      .select<{ name: string }[]>('groups.name');
    return rows.map((r) => r.name);
  }

  /** Adds the user to a group, creating the group if needed. Returns false if already a member. */
  async addToGroup(userId: string, name: string, nameKey: string, now: number): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      await trx('groups').insert({ name, name_key: nameKey, created_at: now }).onConflict('name_key').ignore();
      const group = await trx('groups').where({ name_key: nameKey }).first<{ id: number }>('id');
      const inserted = await trx('user_groups')
        .insert({ user_id: userId, group_id: group!.id })
        .onConflict(['user_id', 'group_id'])
        .ignore()
        .returning('user_id');
      return Array.isArray(inserted) ? inserted.length > 0 : Boolean(inserted);
    });
  }

  async removeFromGroup(userId: string, nameKey: string): Promise<boolean> {
    const group = await this.db('groups').where({ name_key: nameKey }).first<{ id: number } | undefined>('id');
    if (!group) return false;
    return (await this.db('user_groups').where({ user_id: userId, group_id: group.id }).delete()) > 0;
  }
}
