/** Security questions: answers normalised and stored as argon2id hashes; nobody can read them back. */
import type { RecoveryMethod, MethodDeps, MethodContext, MethodPage } from '../types.ts';
import { questionCatalogue, questionText } from './questions.ts';
import { validateAnswers, hashAnswers } from './answers.ts';

export function securityQuestionsMethod(deps: MethodDeps): RecoveryMethod {
  function page(ctx: MethodContext, chosen: string[], problems: { index: number; code: string }[] = [], error?: string): MethodPage {
    const settings = deps.config().sspr.securityQuestions;
    const catalogue = questionCatalogue(settings);
    return {
      view: 'methods/security-questions',
      locals: {
        count: settings.numberToRegister,
        questions: catalogue.map((q) => ({ id: q.id, text: questionText(q, ctx.locale) })),
        chosen,
        problems,
      },
      error,
    };
  }

  return {
    id: 'securityQuestions',
    async begin(ctx) {
      return page(ctx, []);
    },
    async step(ctx, step, form) {
      const settings = deps.config().sspr.securityQuestions;
      if (step !== 'save' || ctx.isAdmin) return { kind: 'page', page: page(ctx, [], [], 'error.bad_request') };
      const pairs = Array.from({ length: settings.numberToRegister }, (_, i) => ({
        questionId: form[`question${i}`] ?? '',
        answer: form[`answer${i}`] ?? '',
      }));
      const chosen = pairs.map((p) => p.questionId);
      const problems = validateAnswers(pairs, questionCatalogue(settings), settings.numberToRegister);
      if (problems.length) {
        return { kind: 'page', page: page(ctx, chosen, problems.map((p) => ({ index: p.index, code: p.code })), 'questions.fix') };
      }
      const hashed = await hashAnswers(pairs, deps.hasher);
      const had = (await deps.store.sspr.answers(ctx.user.id)).length > 0;
      await deps.store.sspr.replaceAnswers(ctx.user.id, hashed, deps.clock.now());
      return { kind: 'registered', change: had ? 'changed' : 'added' };
    },
    summary(facts, t) {
      return facts.answers.length ? t('method.securityQuestions.summary', { count: facts.answers.length }) : undefined;
    },
    remove(user) {
      return deps.store.sspr.deleteAnswers(user.id);
    },
  };
}
