/** Authentication email: an address proven by a mailed code. */
import type { RecoveryMethod, MethodDeps, MethodContext, MethodPage } from '../types.ts';
import { normaliseEmail } from '../../users/names.ts';
import { maskEmail } from '../../delivery/mask.ts';
import { sendCode, checkCode } from '../code-steps.ts';

const PURPOSE = 'register:email';

export function emailMethod(deps: MethodDeps): RecoveryMethod {
  const page = (step: 'address' | 'code', locals: Record<string, unknown>, error?: string, errorVars?: Record<string, string | number>): MethodPage => ({
    view: 'methods/email',
    locals: { step, address: '', ...locals },
    error,
    errorVars,
  });

  async function send(ctx: MethodContext, raw: string) {
    let address: string;
    try {
      address = normaliseEmail(raw);
    } catch {
      return { kind: 'page' as const, page: page('address', { address: raw.slice(0, 320) }, 'error.invalid_email') };
    }
    const sent = await sendCode(deps, ctx.user.id, PURPOSE, address, (code, minutes) =>
      deps.mail.send({
        to: address,
        subject: ctx.t('mail.code.subject', { organisation: deps.config().ui.organisation }),
        text: ctx.t('mail.code.body', { code, minutes, organisation: deps.config().ui.organisation }),
        userId: ctx.user.id,
        kind: 'register.email.code',
      }),
      'email',
    );
    if (!sent.ok) return { kind: 'page' as const, page: page('address', { address }, sent.error, sent.vars) };
    return { kind: 'page' as const, page: page('code', { address, masked: maskEmail(address) }) };
  }

  return {
    id: 'email',
    async begin() {
      return page('address', {});
    },
    async step(ctx, step, form) {
      const address = (form.address ?? '').trim();
      if (step === 'send' || step === 'resend') return send(ctx, address);
      if (step === 'verify') {
        const checked = await checkCode(deps, ctx.user.id, PURPOSE, address, form.code ?? '');
        if (!checked.ok) {
          return { kind: 'page', page: page(checked.restart ? 'address' : 'code', { address, masked: maskEmail(address) }, checked.error, checked.vars) };
        }
        const previous = await deps.store.sspr.putMethod(ctx.user.id, 'email', checked.value, deps.clock.now());
        return { kind: 'registered', change: previous === undefined ? 'added' : 'changed', previous };
      }
      return { kind: 'page', page: page('address', {}, 'error.bad_request') };
    },
    summary(facts) {
      const stored = facts.methods.find((m) => m.kind === 'email');
      return stored ? maskEmail(stored.value) : undefined;
    },
    remove(user) {
      return deps.store.sspr.deleteMethod(user.id, 'email');
    },
  };
}
