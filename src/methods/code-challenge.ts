/**
 * The reset side shared by the methods that prove an address with a one-time code (email, mobile
 * phone, office phone): send, re-send, check, with the account's SSPR limits.
 */
import type { ChallengeContext, ChallengeOutcome, ChallengePage, MethodDeps, ResetChallenge } from './types.ts';
import type { MethodId } from './ids.ts';
import type { UserFacts } from '../sspr/policy.ts';
import type { StoredMethodKind } from '../store/sspr.ts';
import { sendCode, checkCode, spaced } from './code-steps.ts';
import { maskEmail, maskPhone } from '../delivery/mask.ts';
import type { PhoneChannel } from '../delivery/channel.ts';

export type Channel = PhoneChannel;
type Deliver = (ctx: ChallengeContext, to: string, code: string, minutes: number, channel: Channel) => Promise<void>;

export const valueOf = (facts: UserFacts, kind: StoredMethodKind) => facts.methods.find((m) => m.kind === kind)?.value;

export interface CodeChallenge extends Pick<ResetChallenge, 'start' | 'step'> {
  send(ctx: ChallengeContext, channel: Channel): Promise<ChallengeOutcome>;
}

export function codeChallenge(deps: MethodDeps, id: MethodId, kind: 'email' | 'mobile_phone' | 'office_phone', deliver: Deliver): CodeChallenge {
  // Bound to the flow as well as to user and address: a code mailed for one flow is no good in another.
  const purpose = (ctx: ChallengeContext) => `reset:${kind}:${ctx.flow}`;
  const page = (to: string, channel: Channel, error?: string, errorVars?: Record<string, string | number>): ChallengePage => ({
    view: 'recover/code',
    locals: { method: id, masked: kind === 'email' ? maskEmail(to) : maskPhone(to), channel, resend: true },
    error,
    errorVars,
  });
  const self: CodeChallenge = {
    async send(ctx, channel) {
      if (!(await ctx.spend(kind === 'email' ? 'email' : 'phone'))) return { kind: 'blocked' };
      const to = valueOf(ctx.facts, kind)!;
      const sent = await sendCode(deps, ctx.user.id, purpose(ctx), to, (code, minutes) => deliver(ctx, to, code, minutes, channel));
      const saved = { stage: 'code', channel };
      if (!sent.ok) return { kind: 'page', page: page(to, channel, sent.error, sent.vars), saved };
      return { kind: 'page', page: page(to, channel), saved };
    },
    start: (ctx) => self.send(ctx, kind === 'office_phone' ? 'voice' : 'sms'),
    async step(ctx, form) {
      const to = valueOf(ctx.facts, kind)!;
      const channel = ctx.saved.channel === 'voice' ? 'voice' : 'sms';
      if (form.action === 'resend') return self.send(ctx, channel);
      const checked = await checkCode(deps, ctx.user.id, purpose(ctx), to, form.code ?? '');
      if (checked.ok) return { kind: 'proven' };
      return { kind: 'page', page: page(to, channel, checked.error, checked.vars), saved: ctx.saved, failed: true };
    },
  };
  return self;
}

/** Sends a reset code by text or call to a phone method's number. */
export function phoneDelivery(deps: MethodDeps, kindLabel: 'mobile_phone' | 'office_phone'): Deliver {
  return (ctx, to, code, minutes, channel) => {
    const organisation = deps.config().ui.organisation;
    return deps.phone.send({
      to,
      channel,
      text: channel === 'sms' ? ctx.t('sms.code', { code, minutes, organisation }) : ctx.t('voice.code', { code: spaced(code), organisation }),
      locale: ctx.locale,
      userId: ctx.user.id,
      kind: `reset.${kindLabel}.${channel}`,
    });
  };
}
