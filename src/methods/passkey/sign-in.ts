/**
 * "Sign in with a passkey" on the sign-in page: any passkey of this site (discoverable), user
 * verification required, so it is the multi-factor level on its own. Audited like a password
 * sign-in (signin.success / signin.failure, via passkey). No HTTP here.
 */
import type { MethodDeps } from '../types.ts';
import { ACR_MFA } from '../../mfa/policy.ts';
import { Passkeys, embed, type PasskeyRequest } from './webauthn.ts';
import { Service } from '../../service.ts';

export type PasskeySignInOutcome = { ok: true; accountId: string; acr: string; amr: string[] } | { ok: false; error: string };

export class PasskeySignIn extends Service<MethodDeps> {
  readonly #passkeys = new Passkeys(this.deps);

  /** Whether the sign-in page offers it (`sspr.methods.passkey`). */
  enabled(): boolean {
    return this.deps.config().sspr.methods.passkey;
  }

  /** Options for the sign-in page of one interaction, as the page embeds them. */
  async options(flow: string): Promise<string> {
    return embed(await this.#passkeys.authenticationOptions(`login:${flow}`));
  }

  async signIn(flow: string, raw: string | undefined, request: PasskeyRequest & { ip: string }): Promise<PasskeySignInOutcome> {
    const at = () => this.deps.clock.now();
    const where = { ip: request.ip, clientId: request.clientId ?? null, flowId: flow };
    if (!this.enabled()) return { ok: false, error: 'login.passkey_failed' };
    // Failed passkey sign-ins count against the address like failed passwords (one counter), taken
    // before the check so parallel posts can't pass it; a success gives its point back.
    const throttle = this.deps.config().throttle;
    const point = await this.deps.throttle.take(`signin:ip:${request.ip}`, { points: throttle.signinPerIp, windowSeconds: throttle.signinWindowSeconds });
    if (!point.allowed) {
      await point.giveBack();
      await this.deps.store.audit.record({ type: 'signin.failure', outcome: 'failure', ...where, details: { via: 'passkey', reason: 'ip_throttled' } }, at());
      return { ok: false, error: 'login.passkey_failed' };
    }
    const outcome = await this.#passkeys.authenticate(`login:${flow}`, raw, undefined, { ...request, flowId: flow });
    if (!outcome.ok) {
      await this.deps.store.audit.record({ type: 'signin.failure', outcome: 'failure', ...where, details: { via: 'passkey', reason: outcome.reason } }, at());
      return { ok: false, error: outcome.error === 'passkey.failed' ? 'login.passkey_failed' : outcome.error };
    }
    const user = await this.deps.store.users.findById(outcome.userId);
    if (!user || user.status !== 'enabled') {
      await this.deps.store.audit.record({ type: 'signin.failure', outcome: 'failure', userId: outcome.userId, ...where, details: { via: 'passkey', reason: 'not_enabled' } }, at());
      return { ok: false, error: 'login.passkey_failed' };
    }
    await point.giveBack();
    await this.deps.store.audit.record({ type: 'signin.success', outcome: 'success', userId: user.id, ...where, details: { via: 'passkey', amr: outcome.amr } }, at());
    // RFC 8176: the key (hardware- or software-held), a user present and verified, so more than one factor.
    return { ok: true, accountId: user.id, acr: ACR_MFA, amr: [outcome.amr, 'user', 'mfa'] };
  }
}
