/**
 * The password check inside the sign-in prompts. A browser signed in by SSO may be one nobody is
 * watching, so changing recovery methods there needs an authentication as recent as on the
 * security-info page (FRESH_MINUTES, sign-in.ts); the check is a normal sign-in (PasswordSignIn: the per-IP
 * throttle, the lockout and the signin.* audit events), plus an event of its own.
 * No HTTP here: the routes read and record the authentication time on the oidc-provider session.
 */
import type { Clock } from '../../clock.ts';
import type { AuditStore } from '../../store/audit.ts';
import type { User } from '../../store/users.ts';
import { isFresh, type PasswordSignIn } from '../sign-in.ts';
import type { RequestInfo } from './service.ts';
import { Service } from '../../service.ts';

export class ReauthService extends Service<{ signIn: PasswordSignIn; audit: AuditStore; clock: Clock }> {
  /** True when the account authenticated (epoch ms) within the last FRESH_MINUTES. */
  isFresh(authenticatedAt: number | undefined): boolean {
    return isFresh(authenticatedAt, this.deps.clock.now());
  }

  /** Checks the signed-in user's password; returns the time of the check on success. */
  async confirmPassword(user: User, password: string, info: RequestInfo): Promise<number | undefined> {
    const result = await this.deps.signIn.check(user.username, password, { ip: info.ip ?? '', clientId: info.clientId, via: 'registration-prompt' });
    const ok = result.ok && result.user.id === user.id;
    const now = this.deps.clock.now();
    await this.deps.audit.record(
      {
        type: 'sspr.registration.reauth',
        outcome: ok ? 'success' : 'failure',
        userId: user.id,
        clientId: info.clientId,
        ip: info.ip,
        flowId: info.flowId,
        details: {},
      },
      now,
    );
    return ok ? now : undefined;
  }
}
