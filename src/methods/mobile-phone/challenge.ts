/** Mobile phone at reset: the user types the whole number first; only a match gets a code (Entra's rule). */
import type { ChallengePage, MethodDeps, ResetChallenge } from '../types.ts';
import { codeChallenge, phoneDelivery, valueOf, type Channel } from '../code-challenge.ts';
import { parsePhone } from './register.ts';
import { maskPhone } from '../../delivery/mask.ts';

export function mobilePhoneChallenge(deps: MethodDeps): ResetChallenge {
  const code = codeChallenge(deps, 'mobilePhone', 'mobile_phone', phoneDelivery(deps, 'mobile_phone'));
  const channels = (): Channel[] => {
    const m = deps.config().sspr.methods.mobilePhone;
    return [...(m.sms ? ['sms' as const] : []), ...(m.voice ? ['voice' as const] : [])];
  };
  const numberPage = (error?: string): ChallengePage => ({
    view: 'recover/phone-number',
    locals: { channels: channels(), country: deps.config().sspr.defaultCountry },
    error,
  });
  return {
    id: 'mobilePhone',
    label: (facts, t) => t('recover.method.mobilePhone', { number: maskPhone(valueOf(facts, 'mobile_phone') ?? '') }),
    async start() {
      return { kind: 'page', page: numberPage(), saved: { stage: 'number' } };
    },
    async step(ctx, form) {
      if (ctx.saved.stage === 'code') return code.step(ctx, form);
      const channel = channels().find((c) => c === form.channel);
      if (!channel) return { kind: 'page', page: numberPage('phone.channel_unavailable'), saved: { stage: 'number' } };
      const parsed = parsePhone(form.country || deps.config().sspr.defaultCountry, form.number ?? '', false);
      if (!parsed.ok || parsed.e164 !== valueOf(ctx.facts, 'mobile_phone')) {
        // A wrong number counts as one phone validation; a matching one is counted once, by the send.
        if (!(await ctx.spend('phone'))) return { kind: 'blocked' };
        return { kind: 'page', page: numberPage('recover.phone_mismatch'), saved: { stage: 'number' }, failed: true };
      }
      return code.send(ctx, channel);
    },
  };
}
