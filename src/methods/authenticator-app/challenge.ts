/** Authenticator app at reset: a current code from the app. */
import type { MethodDeps, ResetChallenge } from '../types.ts';
import { valueOf } from '../code-challenge.ts';
import { verifyTotp } from '../../security/totp.ts';

export function authenticatorAppChallenge(deps: MethodDeps): ResetChallenge {
  return {
    id: 'authenticatorApp',
    label: (_facts, t) => t('recover.method.authenticatorApp'),
    async start() {
      return { kind: 'page', page: { view: 'recover/app', locals: {} }, saved: { stage: 'code' } };
    },
    async step(ctx, form) {
      const sealed = valueOf(ctx.facts, 'authenticator_app');
      const result = sealed ? verifyTotp(deps.open(sealed), form.code ?? '', deps.clock.now()) : { ok: false };
      // A code already used (here or in another flow) is refused: no replay within its 30 seconds.
      if (result.ok && result.step !== undefined && (await deps.store.reset.useTotpStep(ctx.user.id, result.step))) return { kind: 'proven' };
      return { kind: 'page', page: { view: 'recover/app', locals: {}, error: 'totp.wrong' }, saved: ctx.saved, failed: true };
    },
  };
}
