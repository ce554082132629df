/** Security questions at reset: a random draw of the registered ones; a wrong answer draws again. */
import type { ChallengeContext, ChallengePage, MethodDeps, ResetChallenge } from '../types.ts';
import { questionCatalogue, questionText } from './questions.ts';
import { checkAnswers, drawQuestions } from './answers.ts';

export function securityQuestionsChallenge(deps: MethodDeps): ResetChallenge {
  const questionsPage = (ctx: ChallengeContext, ids: string[], error?: string): ChallengePage => {
    const byId = new Map(questionCatalogue(deps.config().sspr.securityQuestions).map((q) => [q.id, q]));
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
  return {
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
  };
}
