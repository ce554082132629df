/**
 * The interaction policy: oidc-provider's login and consent prompts, with the SSPR prompts in
 * between — `sspr_register` (not enough recovery methods) and `sspr_reconfirm` (time to confirm
 * them). Their checks read the account's persisted state on every authorization; within one
 * authorization a finished or skipped prompt is remembered under its own name in the result.
 */
import { interactionPolicy, errors } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Interrupt } from '../sspr/policy.ts';
import { ACR_MFA, ACR_VALUES, requestedAcr } from '../mfa/policy.ts';

const { Prompt, Check, base } = interactionPolicy;

/** What the SSPR prompts ask (StandingService, src/sspr/standing.ts). */
export interface SsprInterrupts {
  interruptFor(accountId: string): Promise<Interrupt>;
}

/** Whether the multi-factor policy makes this account prove a second factor. */
export interface MfaGate {
  required(accountId: string): Promise<boolean>;
  /**
   * Whether this device is remembered for the account (the token from the signed device cookie),
   * which stands in for the second factor the policy requires.
   */
  remembered?(accountId: string, token: string | undefined, request: { ip?: string; clientId?: string }): Promise<boolean>;
}

/** The signed cookie of a remembered device (src/mfa/devices.ts). */
export const DEVICE_COOKIE = 'oidc_sspr_mfa_device';

export const MFA_PROMPT = 'mfa';

/** An acr_values that names none of our levels is refused before anything is shown. */
const knownAcr = new Check('acr_values_unsupported', 'acr_values names no supported level', (ctx: KoaContextWithOIDC) => {
  if (requestedAcr(ctx.oidc.params?.acr_values).unknown) {
    throw new errors.InvalidRequest(`acr_values: none of the requested values is supported (supported: ${ACR_VALUES.join(' ')})`);
  }
  return Check.NO_NEED_TO_PROMPT;
});

/**
 * The second factor: asked after the password (and the SSPR prompts) when the relying party asks
 * for the multi-factor level or the policy requires it, unless the session already has it or (for
 * the policy only) the device is remembered for the account.
 */
function mfaPrompt(gate: MfaGate) {
  return new Prompt(
    { name: MFA_PROMPT, requestable: false },
    new Check('mfa_required', 'a second factor is required', async (ctx: KoaContextWithOIDC) => {
      const result = ctx.oidc.result as Record<string, unknown> | undefined;
      if (result?.[MFA_PROMPT]) return Check.NO_NEED_TO_PROMPT;
      const session = ctx.oidc.session;
      const accountId = session?.accountId;
      if (!accountId || session?.acr === ACR_MFA) return Check.NO_NEED_TO_PROMPT;
      // A relying party that asks for the multi-factor level gets a second factor proved now.
      if (requestedAcr(ctx.oidc.params?.acr_values).acr === ACR_MFA) return Check.REQUEST_PROMPT;
      if (!(await gate.required(accountId))) return Check.NO_NEED_TO_PROMPT;
      if (gate.remembered) {
        const token = ctx.cookies.get(DEVICE_COOKIE, { signed: true });
        const clientId = typeof ctx.oidc.params?.client_id === 'string' ? ctx.oidc.params.client_id : undefined;
        if (await gate.remembered(accountId, token, { ip: ctx.ip, clientId })) return Check.NO_NEED_TO_PROMPT;
      }
      return Check.REQUEST_PROMPT;
    }),
  );
}

function ssprPrompt(name: string, reason: string, description: string, wanted: Interrupt, once: (ctx: KoaContextWithOIDC, accountId: string) => Promise<Interrupt>) {
  return new Prompt(
    { name, requestable: false },
    new Check(reason, description, async (ctx: KoaContextWithOIDC) => {
      const result = ctx.oidc.result as Record<string, unknown> | undefined;
      if (result?.[name]) return Check.NO_NEED_TO_PROMPT;
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId) return Check.NO_NEED_TO_PROMPT;
      return (await once(ctx, accountId)) === wanted ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
}

/**
 * oidc-provider's base policy plus, when `sspr` is given, the registration and reconfirmation
 * prompts, and when `mfa` is given, the second factor after them.
 */
export function createInteractionPolicy(sspr?: SsprInterrupts, mfa?: MfaGate): interactionPolicy.DefaultPolicy {
  const policy = base();
  policy.get('login')!.checks.add(knownAcr, 0);
  if (sspr) {
    // Both prompts ask the same question of the same request: look the account up once.
    const asked = new WeakMap<object, Promise<Interrupt>>();
    const once = (ctx: KoaContextWithOIDC, accountId: string) => {
      let answer = asked.get(ctx.oidc);
      if (!answer) {
        answer = sspr.interruptFor(accountId);
        asked.set(ctx.oidc, answer);
      }
      return answer;
    };
    policy.add(ssprPrompt('sspr_register', 'sspr_registration_required', 'recovery methods must be registered', 'register', once), 1);
    policy.add(ssprPrompt('sspr_reconfirm', 'sspr_reconfirmation_due', 'recovery methods must be reconfirmed', 'reconfirm', once), 2);
  }
  if (mfa) policy.add(mfaPrompt(mfa), policy.findIndex((p) => p.name === 'consent'));
  return policy;
}
