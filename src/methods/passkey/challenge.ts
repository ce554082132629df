/** Passkey at reset: one of the user's passkeys signs a challenge bound to this reset flow. */
import type { ChallengeContext, ChallengePage, MethodDeps, ResetChallenge } from '../types.ts';
import { Passkeys, embed } from './webauthn.ts';

export function passkeyChallenge(deps: MethodDeps): ResetChallenge {
  const passkeys = new Passkeys(deps);
  const binding = (ctx: ChallengeContext) => `reset:${ctx.flow}`;

  async function page(ctx: ChallengeContext, error?: string): Promise<ChallengePage> {
    const options = await passkeys.authenticationOptions(binding(ctx), ctx.user, ctx.facts.methods);
    return { view: 'recover/passkey', locals: { options: embed(options) }, error };
  }

  return {
    id: 'passkey',
    label: (_facts, t) => t('recover.method.passkey'),
    async start(ctx) {
      return { kind: 'page', page: await page(ctx), saved: { stage: 'passkey' } };
    },
    async step(ctx, form) {
      const outcome = await passkeys.authenticate(binding(ctx), form.response, ctx.user, { flowId: ctx.flow });
      if (outcome.ok) return { kind: 'proven' };
      return { kind: 'page', page: await page(ctx, outcome.error), saved: ctx.saved, failed: true };
    },
  };
}
