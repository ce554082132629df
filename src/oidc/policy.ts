/**
 * The interaction policy: oidc-provider's login and consent prompts, with the SSPR prompts in
 * between — `sspr_register` (not enough recovery methods) and `sspr_reconfirm` (time to confirm
 * them). Their checks read the account's persisted state on every authorization; within one
 * authorization a finished or skipped prompt is remembered under its own name in the result.
 */
import { interactionPolicy } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Interrupt } from '../sspr/policy.ts';

const { Prompt, Check, base } = interactionPolicy;

export interface SsprInterrupts {
  interruptFor(accountId: string): Promise<Interrupt>;
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

/** oidc-provider's base policy plus, when `sspr` is given, the registration and reconfirmation prompts. */
export function createInteractionPolicy(sspr?: SsprInterrupts): interactionPolicy.DefaultPolicy {
  const policy = base();
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
  return policy;
}
