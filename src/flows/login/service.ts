/** Sign-in and consent decisions; no HTTP here. */
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { UserService } from '../../users/service.ts';
import type { AuditStore } from '../../store/audit.ts';
import type { Clock } from '../../clock.ts';
import type { Throttle, Limit } from '../../security/throttle.ts';
import { scopeClaims } from '../../oidc/account.ts';

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export type LoginOutcome = { ok: true; accountId: string } | { ok: false };

export class LoginService {
  readonly #users: UserService;
  readonly #log: Logger;
  readonly #audit: AuditStore;
  readonly #clock: Clock;
  readonly #throttle: Throttle;
  readonly #limit: () => Limit;
  readonly isFirstParty: (clientId: string) => boolean;

  constructor(deps: { users: UserService; log: Logger; audit: AuditStore; clock: Clock; isFirstParty: (clientId: string) => boolean; throttle: Throttle; limit: () => Limit }) {
    this.#throttle = deps.throttle;
    this.#limit = deps.limit;
    this.#users = deps.users;
    this.#log = deps.log;
    this.#audit = deps.audit;
    this.#clock = deps.clock;
    this.isFirstParty = deps.isFirstParty;
  }

  /** Every failure looks the same to the user; the log keeps the reason (never the password). */
  async signIn(username: string, password: string, context: { clientId: string; ip: string }): Promise<LoginOutcome> {
    if (username.length > 1024 || password.length > 1024) {
      this.#log.info({ event: 'signin.failure', reason: 'oversized', ...context }, 'sign-in failed');
      return { ok: false };
    }
    // Password spraying: failed sign-ins from one address across accounts are counted; past the
    // limit the address gets the usual failure without a password check. The point is taken before
    // the check, so concurrent posts can't all pass; only failures keep it.
    const ipKey = `signin:ip:${context.ip}`;
    const ipPoint = await this.#throttle.take(ipKey, this.#limit());
    if (!ipPoint.allowed) {
      // Not a checked password: it doesn't count (the address is over the limit anyway).
      await ipPoint.giveBack();
      this.#log.warn({ event: 'signin.throttled', ip: context.ip }, 'sign-in refused: too many failures from this address');
      await this.#audit.record({ type: 'signin.failure', outcome: 'failure', clientId: context.clientId, ip: context.ip, details: { reason: 'ip_throttled' } }, this.#clock.now());
      return { ok: false };
    }
    const result = await this.#users.signIn(username, password);
    const at = this.#clock.now();
    if (!result.ok) {
      this.#log.info({ event: 'signin.failure', reason: result.reason, userId: result.userId, ...context }, 'sign-in failed');
      await this.#audit.record({ type: 'signin.failure', outcome: 'failure', userId: result.userId, clientId: context.clientId, ip: context.ip, details: { reason: result.reason } }, at);
      if (result.lockedNow) await this.#audit.record({ type: 'signin.locked', outcome: 'info', userId: result.userId, clientId: context.clientId, ip: context.ip }, at);
      return { ok: false };
    }
    await ipPoint.giveBack();
    this.#log.info({ event: 'signin.success', userId: result.user.id, ...context }, 'signed in');
    await this.#audit.record({ type: 'signin.success', outcome: 'success', userId: result.user.id, clientId: context.clientId, ip: context.ip }, at);
    return { ok: true, accountId: result.user.id };
  }

  knownScope(scope: string): boolean {
    return scope in scopeClaims || scope === 'offline_access';
  }

  /** Grants what the interaction found missing; returns the grant id. */
  async grantConsent(provider: Provider, interaction: Interaction): Promise<string> {
    const { details } = interaction.prompt as { details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> } };
    const accountId = interaction.session?.accountId;
    const clientId = String(interaction.params.client_id);
    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({ accountId, clientId });
    if (!grant) throw new Error('grant vanished during the interaction');
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    return grant.save();
  }
}
