/**
 * Passkeys on /security-info and at the registration interrupt: the list (renamed and removed one
 * by one), and a new one made by the browser. Removing the last one goes through the overview's
 * "Remove", which checks the user keeps enough methods.
 */
import type { RecoveryMethod, MethodDeps, MethodContext, MethodPage, StepOutcome } from '../types.ts';
import { AppError } from '../../errors.ts';
import { Passkeys, MAX_PASSKEYS, cleanLabel, embed, passkeysOf, summaries } from './webauthn.ts';

export function passkeyMethod(deps: MethodDeps): RecoveryMethod {
  const passkeys = new Passkeys(deps);
  const binding = (ctx: MethodContext) => {
    if (!ctx.flow) throw new AppError('wrong_step', 'a passkey page needs its flow');
    return `register:${ctx.flow}:${ctx.user.id}`;
  };

  async function page(ctx: MethodContext, error?: string, status?: number): Promise<MethodPage> {
    const methods = await deps.store.sspr.methods(ctx.user.id);
    const list = summaries(methods);
    const canAdd = list.length < MAX_PASSKEYS;
    const options = canAdd ? embed(await passkeys.registrationOptions(ctx.user, binding(ctx), methods)) : '';
    const format = new Intl.DateTimeFormat(ctx.locale, { dateStyle: 'medium' });
    return {
      view: 'methods/passkey',
      locals: {
        passkeys: list.map((p) => ({ ...p, created: format.format(p.createdAt), lastUsed: p.lastUsedAt === null ? undefined : format.format(p.lastUsedAt) })),
        canAdd,
        options,
        defaultLabel: ctx.t('passkey.default_label', { n: list.length + 1 }),
      },
      error,
      status,
    };
  }

  const again = async (ctx: MethodContext, error: string, status = 400): Promise<StepOutcome> => ({ kind: 'page', page: await page(ctx, error, status) });

  return {
    id: 'passkey',
    begin: (ctx) => page(ctx),
    async step(ctx, step, form) {
      const request = { flowId: ctx.flow };
      if (step === 'create') {
        const label = cleanLabel(form.label) || ctx.t('passkey.default_label', { n: passkeysOf(await deps.store.sspr.methods(ctx.user.id)).length + 1 });
        const outcome = await passkeys.register(ctx.user, binding(ctx), form.response, label, request);
        if (!outcome.ok) return again(ctx, outcome.reason === 'already_registered' ? 'passkey.already_registered' : outcome.reason === 'too_many' ? 'passkey.too_many' : outcome.error);
        return { kind: 'registered', change: 'added' };
      }
      const slot = form.slot ?? '';
      const mine = passkeysOf(await deps.store.sspr.methods(ctx.user.id));
      if (!mine.some((p) => p.slot === slot)) return again(ctx, 'passkey.not_found', 404);
      if (step === 'rename') {
        const label = cleanLabel(form.label);
        if (!label) return again(ctx, 'passkey.label_required');
        await deps.store.passkeys.rename(ctx.user.id, slot, label, deps.clock.now());
        return { kind: 'page', page: await page(ctx) };
      }
      if (step === 'delete') {
        if (mine.length <= 1) return again(ctx, 'passkey.last_one', 409);
        await deps.store.sspr.deleteMethod(ctx.user.id, 'passkey', slot);
        return { kind: 'registered', change: 'changed' };
      }
      return again(ctx, 'error.bad_request');
    },
    summary(facts, t) {
      const count = passkeysOf(facts.methods).length;
      return count ? t('method.passkey.summary', { count }) : undefined;
    },
    remove(user) {
      return deps.store.sspr.deleteMethod(user.id, 'passkey');
    },
  };
}
