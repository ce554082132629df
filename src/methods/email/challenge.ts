/** Email at reset: a code mailed to the registered address. */
import type { MethodDeps, ResetChallenge } from '../types.ts';
import { codeChallenge, valueOf } from '../code-challenge.ts';
import { maskEmail } from '../../delivery/mask.ts';

export function emailChallenge(deps: MethodDeps): ResetChallenge {
  const code = codeChallenge(deps, 'email', 'email', (ctx, to, value, minutes) => {
    const organisation = deps.config().ui.organisation;
    return deps.mail.send({
      to,
      subject: ctx.t('mail.reset_code.subject', { organisation }),
      text: ctx.t('mail.reset_code.body', { code: value, minutes, organisation, username: ctx.user.username }),
      userId: ctx.user.id,
      kind: 'reset.email.code',
    });
  });
  return {
    id: 'email',
    label: (facts, t) => t('recover.method.email', { address: maskEmail(valueOf(facts, 'email') ?? '') }),
    start: code.start,
    step: code.step,
  };
}
