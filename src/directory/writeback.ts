/**
 * Password and unlock writeback to an on-premises directory. `PasswordWriteback` is what the reset
 * flow (src/flows/recover/) calls for accounts whose password source is `onpremises`; a host may
 * pass its own to createIdp, otherwise with `directory.mode: writable` and
 * `sspr.onPremises.passwordWriteback` it is LdapPasswordWriteback below.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.ts';
import { systemClock, type Clock } from '../clock.ts';
import { DirectoryError } from './errors.ts';
import type { DirectoryClient } from './client.ts';

export interface WritebackUser {
  id: string;
  username: string;
}

/** Sets passwords (and ends lockouts) in an on-premises directory. */
export interface PasswordWriteback {
  /** Sets the new password there; a DirectoryPolicyRefusal (./errors.ts) is shown to the user, who can try again. */
  setPassword(user: WritebackUser, newPassword: string): Promise<void>;
  /** Ends a lockout there (optional: without it an unlock changes only the local lockout). */
  unlock?(user: WritebackUser): Promise<void>;
  /**
   * True when the account is locked there (optional): "Can't access your account?" then offers an
   * unlock without a reset (`sspr.onPremises.allowUnlockWithoutReset`), as for a local lockout.
   */
  isLocked?(user: WritebackUser): Promise<boolean>;
  /**
   * False when this writeback can't write this on-premises user's password (optional; the LDAP
   * writeback: a user not from the directory). "Can't access your account?" then refuses at the
   * start with SSPR_ONPREM_MANAGED, before the user proves anything, instead of at the last step.
   */
  manages?(user: WritebackUser): Promise<boolean>;
  /**
   * True when sign-in checks these users' passwords in the directory itself (pass-through): a
   * reset then keeps no password hash here. Without it the new password's hash is kept too (a
   * host's writeback whose users sign in against the local hash).
   */
  readonly passThrough?: boolean;
}

/** False when the writeback says it can't write this user's password (see PasswordWriteback.manages). */
export async function writebackManages(writeback: PasswordWriteback, user: WritebackUser): Promise<boolean> {
  return writeback.manages ? writeback.manages(user) : true;
}

/** True when the writeback says the on-premises account is locked in the directory. */
export async function lockedInDirectory(writeback: PasswordWriteback | undefined, user: WritebackUser & { passwordSource: string }): Promise<boolean> {
  return user.passwordSource === 'onpremises' && writeback?.isLocked !== undefined && (await writeback.isLocked(user));
}

/**
 * The LDAP writeback: the Password Modify extended operation (RFC 3062) as the service account.
 * ppolicy removes its lock (pwdAccountLockedTime, pwdFailureTime) in the same operation, so a reset
 * unlocks with nothing left half done; "unlock only" removes them with one modify. A ppolicy
 * refusal throws DirectoryPolicyRefusal; the directory unreachable or refusing the service account,
 * or an account an administrator locked there (never lifted here), throw a DirectoryError.
 */
export class LdapPasswordWriteback implements PasswordWriteback {
  readonly passThrough = true;
  readonly #store: Store;
  readonly #client: DirectoryClient;
  readonly #log: Logger | undefined;
  readonly #clock: Clock;
  constructor(store: Store, client: DirectoryClient, options: { log?: Logger; clock?: Clock } = {}) {
    this.#store = store;
    this.#client = client;
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
  }

  async #dn(userId: string): Promise<string> {
    const dn = await this.#store.directory.dnOf(userId);
    if (!dn) throw new DirectoryError('misconfigured', 'user_not_from_directory');
    return dn;
  }

  /** Only users the sync linked to a directory entry. */
  async manages(user: WritebackUser): Promise<boolean> {
    return (await this.#store.directory.dnOf(user.id)) !== undefined;
  }

  async setPassword(user: WritebackUser, newPassword: string): Promise<void> {
    const dn = await this.#dn(user.id);
    // Password Modify by the service account would lift an administrator's lock too.
    if ((await this.#client.lockState(dn)) === 'administrator') throw new DirectoryError('locked_by_admin', 'administrative_lock');
    await this.#client.setPassword(dn, newPassword);
  }

  async unlock(user: WritebackUser): Promise<void> {
    try {
      await this.#client.unlock(await this.#dn(user.id));
    } catch (error) {
      if (error instanceof DirectoryError) {
        await this.#store.audit.record({ type: 'sspr.unlock.failed', outcome: 'failure', userId: user.id, details: { reason: 'writeback', directoryError: error.code } }, this.#clock.now()).catch(() => {});
      }
      throw error;
    }
  }

  /** Locked after failed binds. When the directory can't say, false: the reset that follows unlocks too, or shows the directory's error. */
  async isLocked(user: WritebackUser): Promise<boolean> {
    const dn = await this.#store.directory.dnOf(user.id);
    if (!dn) return false;
    try {
      return await this.#client.isLocked(dn);
    } catch (error) {
      this.#log?.warn({ event: 'directory.lock_check_failed', userId: user.id, errorCode: error instanceof DirectoryError ? error.code : 'error' }, 'could not ask the directory whether the account is locked');
      return false;
    }
  }
}
