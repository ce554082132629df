/**
 * The reset side of each recovery method: prove it at "Can't access your account?". One
 * interface, one entry per method, like the registration side in registry.ts.
 */
import type { User } from '../store/users.ts';
import type { Locale, Translate } from '../i18n/index.ts';
import type { Form } from '../security/form.ts';
import type { UserFacts } from '../sspr/policy.ts';
import type { MethodDeps } from './types.ts';
import type { MethodId } from './ids.ts';
import { sendCode, checkCode, spaced } from './code-steps.ts';
import { parsePhone } from './mobile-phone.ts';
import { maskEmail, maskPhone } from '../delivery/mask.ts';
import { verifyTotp } from '../security/totp.ts';
import { questionCatalogue, questionText } from './security-questions/questions.ts';
import { checkAnswers, drawQuestions } from './security-questions/answers.ts';

export interface ChallengeContext {
  user: User;
  facts: UserFacts;
  locale: Locale;
  t: Translate;
  /** What this challenge saved in the flow so far (the stage, the questions drawn...). */
  saved: Record<string, unknown>;
  /** The flow's reference (not its id): codes sent in this flow are bound to it. */
  flow: string;
  /** Counts one costly action against the account's SSPR limits; false when a limit is exceeded. */
  spend(kind: 'email' | 'phone' | 'questions'): Promise<boolean>;
}

export interface ChallengePage {
  view: string;
  locals: Record<string, unknown>;
  error?: string;
  errorVars?: Record<string, string | number>;
}

/** `failed` counts toward the flow's limit of wrong answers for this method. */
export type ChallengeOutcome =
  | { kind: 'page'; page: ChallengePage; saved: Record<string, unknown>; failed?: boolean }
  | { kind: 'proven' }
  /** An SSPR limit was exceeded: the account is blocked from SSPR for a while. */
  | { kind: 'blocked' };

export interface ResetChallenge {
  readonly id: MethodId;
  /** A short description for the method list, e.g. "Email a code to j•••@example.org". */
  label(facts: UserFacts, t: Translate): string;
  start(ctx: ChallengeContext): Promise<ChallengeOutcome>;
  step(ctx: ChallengeContext, form: Form): Promise<ChallengeOutcome>;
}

const valueOf = (facts: UserFacts, kind: string) => facts.methods.find((m) => m.kind === kind)?.value;

function codeChallenge(
  deps: MethodDeps,
  id: MethodId,
  kind: 'email' | 'mobile_phone' | 'office_phone',
  deliver: (ctx: ChallengeContext, to: string, code: string, minutes: number, channel: 'sms' | 'voice') => Promise<void>,
): Pick<ResetChallenge, 'start' | 'step'> & { send(ctx: ChallengeContext, channel: 'sms' | 'voice'): Promise<ChallengeOutcome> } {
  // Bound to the flow as well as to user and address: a code mailed for one flow is no good in another.
  const purpose = (ctx: ChallengeContext) => `reset:${kind}:${ctx.flow}`;
  const page = (ctx: ChallengeContext, to: string, channel: 'sms' | 'voice', error?: string, errorVars?: Record<string, string | number>): ChallengePage => ({
    view: 'recover/code',
    locals: { method: id, masked: kind === 'email' ? maskEmail(to) : maskPhone(to), channel, resend: true },
    error,
    errorVars,
  });
  const self = {
    async send(ctx: ChallengeContext, channel: 'sms' | 'voice'): Promise<ChallengeOutcome> {
      if (!(await ctx.spend(kind === 'email' ? 'email' : 'phone'))) return { kind: 'blocked' };
      const to = valueOf(ctx.facts, kind)!;
      const sent = await sendCode(deps, ctx.user.id, purpose(ctx), to, (code, minutes) => deliver(ctx, to, code, minutes, channel));
      const saved = { stage: 'code', channel };
      if (!sent.ok) return { kind: 'page', page: page(ctx, to, channel, sent.error, sent.vars), saved };
      return { kind: 'page', page: page(ctx, to, channel), saved };
    },
    start: (ctx: ChallengeContext) => self.send(ctx, kind === 'office_phone' ? 'voice' : 'sms'),
    async step(ctx: ChallengeContext, form: Form): Promise<ChallengeOutcome> {
      const to = valueOf(ctx.facts, kind)!;
      const channel = ctx.saved.channel === 'voice' ? 'voice' : 'sms';
      if (form.action === 'resend') return self.send(ctx, channel);
      const checked = await checkCode(deps, ctx.user.id, purpose(ctx), to, form.code ?? '');
      if (checked.ok) return { kind: 'proven' };
      return { kind: 'page', page: page(ctx, to, channel, checked.error, checked.vars), saved: ctx.saved, failed: true };
    },
  };
  return self;
}

export function createChallenges(deps: MethodDeps): ReadonlyMap<MethodId, ResetChallenge> {
  const organisation = () => deps.config().ui.organisation;

  const email = codeChallenge(deps, 'email', 'email', (ctx, to, code, minutes) =>
    deps.mail.send({
      to,
      subject: ctx.t('mail.reset_code.subject', { organisation: organisation() }),
      text: ctx.t('mail.reset_code.body', { code, minutes, organisation: organisation(), username: ctx.user.username }),
      userId: ctx.user.id,
      kind: 'reset.email.code',
    }),
  );

  const phoneDeliver = (kindLabel: string) => (ctx: ChallengeContext, to: string, code: string, minutes: number, channel: 'sms' | 'voice') =>
    deps.phone.send({
      to,
      channel,
      text: channel === 'sms' ? ctx.t('sms.code', { code, minutes, organisation: organisation() }) : ctx.t('voice.code', { code: spaced(code), organisation: organisation() }),
      locale: ctx.locale,
      userId: ctx.user.id,
      kind: `reset.${kindLabel}.${channel}`,
    });
  const mobile = codeChallenge(deps, 'mobilePhone', 'mobile_phone', phoneDeliver('mobile_phone'));
  const office = codeChallenge(deps, 'officePhone', 'office_phone', phoneDeliver('office_phone'));

  const channels = () => {
    const m = deps.config().sspr.methods.mobilePhone;
    return [...(m.sms ? ['sms'] : []), ...(m.voice ? ['voice'] : [])] as ('sms' | 'voice')[];
  };
  const numberPage = (error?: string): ChallengePage => ({
    view: 'recover/phone-number',
    locals: { channels: channels(), country: deps.config().sspr.defaultCountry },
    error,
  });

  const questionsPage = (ctx: ChallengeContext, ids: string[], error?: string): ChallengePage => {
    const catalogue = questionCatalogue(deps.config().sspr.securityQuestions);
    const byId = new Map(catalogue.map((q) => [q.id, q]));
    return {
      view: 'recover/questions',
      locals: { questions: ids.map((id) => ({ id, text: byId.get(id) ? questionText(byId.get(id)!, ctx.locale) : id })) },
      error,
    };
  };
  const draw = (ctx: ChallengeContext) =>
    drawQuestions(
      ctx.facts.answers.map((a) => a.questionId),
      Math.min(deps.config().sspr.securityQuestions.numberToReset, ctx.facts.answers.length),
    );

  const list: ResetChallenge[] = [
    {
      id: 'email',
      label: (facts, t) => t('recover.method.email', { address: maskEmail(valueOf(facts, 'email') ?? '') }),
      start: email.start,
      step: email.step,
    },
    {
      id: 'mobilePhone',
      label: (facts, t) => t('recover.method.mobilePhone', { number: maskPhone(valueOf(facts, 'mobile_phone') ?? '') }),
      // The user types the whole number first; only a match gets a code (Entra's rule).
      async start() {
        return { kind: 'page', page: numberPage(), saved: { stage: 'number' } };
      },
      async step(ctx, form) {
        if (ctx.saved.stage !== 'code') {
          const channel = channels().find((c) => c === form.channel);
          if (!channel) return { kind: 'page', page: numberPage('phone.channel_unavailable'), saved: { stage: 'number' } };
          const parsed = parsePhone(form.country || deps.config().sspr.defaultCountry, form.number ?? '', false);
          if (!parsed.ok || parsed.e164 !== valueOf(ctx.facts, 'mobile_phone')) {
            // A wrong number counts as one phone validation; a matching one is counted once, by the send.
            if (!(await ctx.spend('phone'))) return { kind: 'blocked' };
            return { kind: 'page', page: numberPage('recover.phone_mismatch'), saved: { stage: 'number' }, failed: true };
          }
          return mobile.send(ctx, channel);
        }
        return mobile.step(ctx, form);
      },
    },
    {
      id: 'officePhone',
      label: (facts, t) => t('recover.method.officePhone', { number: maskPhone(valueOf(facts, 'office_phone') ?? '') }),
      start: office.start,
      step: office.step,
    },
    {
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
    },
    {
      id: 'securityQuestions',
      label: (_facts, t) => t('recover.method.securityQuestions'),
      async start(ctx) {
        const ids = draw(ctx);
        return { kind: 'page', page: questionsPage(ctx, ids), saved: { stage: 'answer', questions: ids } };
      },
      async step(ctx, form) {
        if (!(await ctx.spend('questions'))) return { kind: 'blocked' };
        const ids = Array.isArray(ctx.saved.questions) ? (ctx.saved.questions as string[]) : [];
        const given = ids.map((questionId, i) => ({ questionId, answer: form[`answer${i}`] ?? '' }));
        if (ids.length && (await checkAnswers(ctx.facts.answers, given, deps.hasher))) return { kind: 'proven' };
        // A wrong answer brings a fresh random draw, so guesses can't work through the pool.
        const next = draw(ctx);
        return { kind: 'page', page: questionsPage(ctx, next, 'recover.answers_wrong'), saved: { stage: 'answer', questions: next }, failed: true };
      },
    },
  ];
  return new Map(list.map((c) => [c.id, c]));
}
