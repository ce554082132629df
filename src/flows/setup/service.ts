/**
 * The security-info page: users sign in with their password to see and manage their recovery
 * methods at any time. Its own short sessions; changes need a sign-in of at most FRESH_MINUTES ago.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../../store/index.ts';
import type { User } from '../../store/users.ts';
import type { Clock } from '../../clock.ts';
import type { UserService } from '../../users/service.ts';
import { isFresh, type PasswordSignIn } from '../sign-in.ts';

/** How long a security-info session lasts. */
export const SESSION_MINUTES = 30;

const hash = (id: string) => createHash('sha256').update(id).digest('hex');

export interface SetupSession {
  id: string;
  user: User;
  authenticatedAt: number;
  /** True when the password was checked in the last FRESH_MINUTES (sign-in.ts). */
  fresh: boolean;
}

export class SetupService {
  readonly #store: Store;
  readonly #users: UserService;
  readonly #clock: Clock;
  readonly #signIn: PasswordSignIn;

  constructor(deps: { store: Store; users: UserService; clock: Clock; signIn: PasswordSignIn }) {
    this.#store = deps.store;
    this.#users = deps.users;
    this.#clock = deps.clock;
    this.#signIn = deps.signIn;
  }

  /**
   * Checks the password like the interactive login does (per-IP throttle, lockout, audit); on
   * success opens a session and returns its id (the cookie value).
   */
  async signIn(username: string, password: string, ip: string): Promise<string | undefined> {
    const result = await this.#signIn.check(username, password, { ip, via: 'security-info' });
    if (!result.ok) return undefined;
    const now = this.#clock.now();
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
    return { id, user, authenticatedAt: found.authenticatedAt, fresh: isFresh(found.authenticatedAt, now) };
  }

  /** Re-checks the password of a session's user (like a sign-in), making the session fresh again. */
  async confirmPassword(session: SetupSession, password: string, ip: string): Promise<boolean> {
    const result = await this.#signIn.check(session.user.username, password, { ip, via: 'security-info-confirm' });
    if (!result.ok || result.user.id !== session.user.id) return false;
    await this.#store.accountSessions.reauthenticated(hash(session.id), this.#clock.now());
    return true;
  }

  async signOut(id: string): Promise<void> {
    await this.#store.accountSessions.delete(hash(id));
  }
}
