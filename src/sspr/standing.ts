/**
 * The facts and standing of an account: which methods it registered, how many count, whether
 * registration is required or reconfirmation due, whether SSPR applies. The one place register,
 * recover, the security-info page, the sign-in prompts and the reports ask; the rules themselves
 * are the pure functions of policy.ts. No HTTP here.
 */
import type { Store } from '../store/index.ts';
import type { RegistrationFacts, ReportStore } from '../store/reports.ts';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../clock.ts';
import { methodFacts, type MethodId } from '../methods/ids.ts';
import { standing, type Interrupt, type Standing, type UserFacts } from './policy.ts';
import { Service } from '../service.ts';

/** Stands in for "no account": an unknown user id is evaluated after the same reads as a real one. */
export { NO_ACCOUNT } from '../users/service.ts';

/** How many more methods must be registered (0 when enough): one that counts alone is always needed. */
export function missingMethods(s: Standing): number {
  const countsAlone = s.registered.some((id) => methodFacts(id).countsAlone);
  return Math.max(s.required - s.registered.length, countsAlone ? 0 : 1);
}

/** Whether removing `id` would leave an account in scope with fewer methods than it needs. */
export function removalBelowRequirement(s: Standing, id: MethodId): boolean {
  if (!s.inScope || !s.registered.includes(id)) return false;
  const remaining = s.registered.filter((m) => m !== id);
  return remaining.length < s.required || !remaining.some((m) => methodFacts(m).countsAlone);
}

/**
 * The facts standing() reads, from a report row. Method values and answer hashes are not loaded
 * for a report; the policy looks only at kinds, verification, the number of answers, groups and
 * the confirmation.
 */
function reportFacts(f: RegistrationFacts): UserFacts {
  return {
    groups: f.groups,
    methods: f.methods.map((m) => ({ id: '', slot: '', label: null, kind: m.kind, value: '', verifiedAt: m.verifiedAt, createdAt: m.createdAt, updatedAt: m.createdAt })),
    answers: f.answers.map((a) => ({ questionId: a.questionId, answerHash: '', createdAt: a.createdAt })),
    state: { confirmedAt: f.confirmedAt, skips: f.skips },
  };
}

export class StandingService extends Service<{ store: Store; config: () => Config; clock: Clock }> {
  /** Groups, methods, answers and registration state of an account (the same four reads for any id). */
  async facts(userId: string): Promise<UserFacts> {
    const [groups, methods, answers, state] = await Promise.all([
      this.deps.store.users.groupsOf(userId),
      this.deps.store.sspr.methods(userId),
      this.deps.store.sspr.answers(userId),
      this.deps.store.sspr.state(userId),
    ]);
    return { groups, methods, answers, state };
  }

  async standing(userId: string): Promise<Standing> {
    return this.evaluate(await this.facts(userId));
  }

  /** The standing for facts already loaded (saves reading them twice). */
  evaluate(facts: UserFacts): Standing {
    return standing(this.deps.config().sspr, facts, this.deps.clock.now());
  }

  /** What sign-in must do for this account now; read from persisted state on every authorization. */
  async interruptFor(accountId: string): Promise<Interrupt> {
    const sspr = this.deps.config().sspr;
    // Nothing can interrupt: don't touch the database on the sign-in hot path.
    if (sspr.enabled === 'none' || !sspr.registration.requireOnSignIn) return 'none';
    const user = await this.deps.store.users.findById(accountId);
    if (!user || user.status !== 'enabled') return 'none';
    return (await this.standing(accountId)).interrupt;
  }

  /**
   * Every account with its facts (no secrets: see ReportStore.registrationFactsPages) and its
   * standing, a page of accounts at a time, by username (bounded memory at any number of accounts).
   * `reports` may be a snapshot (ReportStore.snapshot) for a report that reads them more than once.
   */
  async *everyonePaged(reports: ReportStore = this.deps.store.reports, pageSize?: number): AsyncGenerator<{ facts: RegistrationFacts; standing: Standing }[]> {
    for await (const page of reports.registrationFactsPages(pageSize)) {
      yield page.map((f) => ({ facts: f, standing: this.evaluate(reportFacts(f)) }));
    }
  }
}
