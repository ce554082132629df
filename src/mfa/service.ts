/**
 * The second factor at sign-in: which of a user's registered methods can prove it, sending a code
 * to the chosen one, checking what the user typed. No HTTP here; codes are the same one-time codes
 * as everywhere (random, hashed, single-use, short-lived, attempt-limited), bound to the interaction.
 */
import type { User } from '../store/users.ts';
import type { MethodDeps } from '../methods/types.ts';
import type { Locale, Translate } from '../i18n/index.ts';
import { methodFacts, type MethodId } from '../methods/ids.ts';
import { sendCode, checkCode, spaced, type SendOutcome } from '../methods/code-steps.ts';
import { verifyTotp } from '../security/totp.ts';
import { maskEmail, maskPhone } from '../delivery/mask.ts';
import type { PhoneChannel } from '../delivery/channel.ts';
import { mfaRequired, secondFactors, type SecondFactor } from './policy.ts';
import { Passkeys, embed } from '../methods/passkey/webauthn.ts';
import { Service } from '../service.ts';

export interface MfaRequest {
  /** The interaction's reference: a code sent for one sign-in is no good in another. */
  flow: string;
  ip?: string;
  clientId?: string;
}

export type VerifyOutcome = { ok: true; amr: string } | { ok: false; error: string; vars?: Record<string, string | number> };

/** Wrong second factors per account before it has to wait (the window below), whatever the method. */
const FAILURES_PER_WINDOW = 10;
const WINDOW_SECONDS = 900;

export class MfaService extends Service<MethodDeps> {
  readonly #passkeys = new Passkeys(this.deps);

  async required(accountId: string): Promise<boolean> {
    const config = this.deps.config();
    if (config.mfa.require === 'never') return false;
    return mfaRequired(config, await this.deps.store.users.groupsOf(accountId));
  }

  /** The user's second factors, strongest first, each with what the page shows of it. */
  async factors(user: User): Promise<(SecondFactor & { masked: string })[]> {
    const methods = await this.deps.store.sspr.methods(user.id);
    // Passkeys switched off (sspr.methods.passkey) are kept but not offered.
    const list = secondFactors(this.deps.config(), { groups: [], methods, answers: [], state: { confirmedAt: null, skips: 0 } }).filter((f) => f.id !== 'passkey' || this.deps.config().sspr.methods.passkey);
    return list.map((f) => {
      const kind = methodFacts(f.id).storedKind;
      const value = methods.find((m) => m.kind === kind)?.value ?? '';
      return { ...f, masked: f.id === 'email' ? maskEmail(value) : f.id === 'authenticatorApp' || f.id === 'passkey' ? '' : maskPhone(value) };
    });
  }

  /** Options for the page's passkey form: one of the user's passkeys, for this interaction only. */
  async passkeyOptions(user: User, request: MfaRequest): Promise<string> {
    return embed(await this.#passkeys.authenticationOptions(this.#purpose('passkey', request), user, await this.deps.store.sspr.methods(user.id)));
  }

  /** Sends a code to a code method (the authenticator app needs none). */
  async send(user: User, method: MethodId, channel: PhoneChannel, request: MfaRequest, t: Translate, locale: Locale): Promise<SendOutcome> {
    const value = await this.#value(user, method);
    if (value === undefined || method === 'authenticatorApp' || method === 'passkey') return { ok: false, error: 'mfa.method_unavailable' };
    const organisation = this.deps.config().ui.organisation;
    const outcome = await sendCode(this.deps, user.id, this.#purpose(method, request), value, (code, minutes) => {
      if (method === 'email') {
        return this.deps.mail.send({
          to: value,
          subject: t('mail.mfa_code.subject', { organisation }),
          text: t('mail.mfa_code.body', { code, minutes, organisation, username: user.username }),
          userId: user.id,
          kind: 'mfa.email.code',
        });
      }
      const voice = method === 'officePhone' || channel === 'voice';
      return this.deps.phone.send({
        to: value,
        channel: voice ? 'voice' : 'sms',
        text: voice ? t('voice.code', { code: spaced(code), organisation }) : t('sms.code', { code, minutes, organisation }),
        locale,
        userId: user.id,
        kind: `mfa.${methodFacts(method).storedKind}.${voice ? 'voice' : 'sms'}`,
      });
    }, method === 'email' ? 'email' : 'phone');
    await this.#audit(outcome.ok ? 'mfa.code.sent' : 'mfa.code.failed', user, request, outcome.ok ? 'info' : 'failure', { method, ...(outcome.ok ? {} : { reason: outcome.error }) });
    return outcome;
  }

  async verify(user: User, method: MethodId, code: string, request: MfaRequest): Promise<VerifyOutcome> {
    // A point per try, taken before the check so parallel guesses can't slip past; a right one gives it back.
    const point = await this.deps.throttle.take(`mfa:failures:${user.id}`, { points: FAILURES_PER_WINDOW, windowSeconds: WINDOW_SECONDS });
    if (!point.allowed) return this.#failed(user, method, request, 'mfa.too_many_attempts', 'throttled', { minutes: Math.ceil(point.retryAfterSeconds / 60) });
    const outcome = await this.#check(user, method, code, request);
    if (outcome.ok) {
      await point.giveBack();
      await this.#audit('mfa.success', user, request, 'success', { method });
      return outcome;
    }
    return this.#failed(user, method, request, outcome.error, 'wrong_code', outcome.vars);
  }

  async #check(user: User, method: MethodId, code: string, request: MfaRequest): Promise<VerifyOutcome> {
    const value = await this.#value(user, method);
    if (value === undefined) return { ok: false, error: 'mfa.method_unavailable' };
    if (method === 'passkey') {
      // `code` is the browser's answer; a passkey of this user, to the challenge of this interaction.
      const outcome = await this.#passkeys.authenticate(this.#purpose(method, request), code, user, { ip: request.ip, clientId: request.clientId, flowId: request.flow });
      return outcome.ok ? { ok: true, amr: outcome.amr } : { ok: false, error: outcome.error };
    }
    if (method === 'authenticatorApp') {
      const result = verifyTotp(this.deps.open(value), code.replace(/\s+/g, ''), this.deps.clock.now());
      // Each time step once only, here or at a reset: no replay within its 30 seconds.
      if (result.ok && result.step !== undefined && (await this.deps.store.reset.useTotpStep(user.id, result.step))) return { ok: true, amr: 'otp' };
      return { ok: false, error: 'totp.wrong' };
    }
    const checked = await checkCode(this.deps, user.id, this.#purpose(method, request), value, code);
    return checked.ok ? { ok: true, amr: methodFacts(method).secondFactor!.amr } : { ok: false, error: checked.error, vars: checked.vars };
  }

  async #failed(user: User, method: MethodId, request: MfaRequest, error: string, reason: string, vars?: Record<string, string | number>): Promise<VerifyOutcome> {
    await this.#audit('mfa.failure', user, request, 'failure', { method, reason });
    return { ok: false, error, vars };
  }

  /** The value of a method that counts as a second factor here, or undefined. */
  async #value(user: User, method: MethodId): Promise<string | undefined> {
    const config = this.deps.config();
    if (!config.mfa.methods.includes(method) || (method === 'passkey' && !config.sspr.methods.passkey)) return undefined;
    const kind = methodFacts(method).storedKind;
    return (await this.deps.store.sspr.methods(user.id)).find((m) => m.kind === kind && m.verifiedAt !== null)?.value;
  }

  #purpose(method: MethodId, request: MfaRequest): string {
    return `mfa:${methodFacts(method).storedKind}:${request.flow}`;
  }

  async #audit(type: string, user: User, request: MfaRequest, outcome: 'success' | 'failure' | 'info', details: Record<string, string | number>): Promise<void> {
    await this.deps.store.audit.record(
      { type, outcome, userId: user.id, clientId: request.clientId, ip: request.ip, flowId: request.flow, details },
      this.deps.clock.now(),
    );
  }
}
