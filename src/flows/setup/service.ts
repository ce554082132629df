/**
 * The security-info page: users sign in with their password to see and manage their recovery
 * methods at any time. Its own short sessions; changes need a sign-in of at most 10 minutes ago.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../../store/index.ts';
import type { User } from '../../store/users.ts';
import type { Clock } from '../../clock.ts';
import type { UserService } from '../../users/service.ts';
import type { Logger } from 'pino';

/** How long a security-info session lasts. */
export const SESSION_MINUTES = 30;
/** How recent the password check must be to change anything. */
export const FRESH_MINUTES = 10;

const hash = (id: string) => createHash('sha256').update(id).digest('hex');

export interface SetupSession {
  id: string;
  user: User;
  authenticatedAt: number;
  /** True when the password was checked in the last FRESH_MINUTES. */
  fresh: boolean;
}

export class SetupService {
  readonly #store: Store;
  readonly #users: UserService;
  readonly #clock: Clock;
  readonly #log: Logger;

  constructor(deps: { store: Store; users: UserService; clock: Clock; log: Logger }) {
    this.#store = deps.store;
    this.#users = deps.users;
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  /** Checks the password; on success opens a session and returns its id (the cookie value). */
  async signIn(username: string, password: string, ip: string): Promise<string | undefined> {
    if (username.length > 1024 || password.length > 1024) return undefined;
    const result = await this.#users.signIn(username, password);
    const now = this.#clock.now();
    await this.#store.audit.record(
      { type: 'setup.signin', outcome: result.ok ? 'success' : 'failure', userId: result.ok ? result.user.id : result.userId, ip, details: result.ok ? {} : { reason: result.reason } },
      now,
    );
    if (!result.ok) {
      this.#log.info({ event: 'setup.signin.failure', reason: result.reason, ip }, 'security-info sign-in failed');
      return undefined;
    }
    const id = randomBytes(32).toString('base64url');
    await this.#store.accountSessions.create(hash(id), result.user.id, now, now + SESSION_MINUTES * 60_000);
    return id;
  }

  async session(id: string | undefined): Promise<SetupSession | undefined> {
    if (!id || id.length > 100) return undefined;
    const now = this.#clock.now();
    const found = await this.#store.accountSessions.find(hash(id), now);
    if (!found) return undefined;
    const user = await this.#users.byId(found.userId);
    if (!user || user.status !== 'enabled') return undefined;
    return { id, user, authenticatedAt: found.authenticatedAt, fresh: found.authenticatedAt + FRESH_MINUTES * 60_000 > now };
  }

  /** Re-checks the password of a session's user, making the session fresh again. */
  async confirmPassword(session: SetupSession, password: string): Promise<boolean> {
    const result = await this.#users.signIn(session.user.username, password.slice(0, 1024));
    if (!result.ok || result.user.id !== session.user.id) return false;
    await this.#store.accountSessions.reauthenticated(hash(session.id), this.#clock.now());
    return true;
  }

  async signOut(id: string): Promise<void> {
    await this.#store.accountSessions.delete(hash(id));
  }
}
