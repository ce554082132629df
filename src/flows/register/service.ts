/**
 * Registration of recovery methods: the interrupt at sign-in, reconfirmation and the setup page
 * all use this service; what an account has and needs comes from StandingService. No HTTP here.
 */
import type { Store } from '../../store/index.ts';
import type { User } from '../../store/users.ts';
import type { Config } from '../../config/schema.ts';
import type { Clock } from '../../clock.ts';
import type { Translate } from '../../i18n/index.ts';
import type { Form } from '../../security/form.ts';
import type { MethodRegistry } from '../../methods/registry.ts';
import type { MethodContext, StepOutcome } from '../../methods/types.ts';
import { methodFacts, type MethodId } from '../../methods/ids.ts';
import type { ChangeNotifier } from '../../sspr/notify.ts';
import type { Standing } from '../../sspr/policy.ts';
import { missingMethods, removalBelowRequirement, type StandingService } from '../../sspr/standing.ts';
import { AppError } from '../../errors.ts';
import { Service } from '../../service.ts';

export interface MethodStatus {
  id: MethodId;
  userManaged: boolean;
  registered: boolean;
  summary: string | undefined;
}

export interface Overview {
  standing: Standing;
  methods: MethodStatus[];
  /** How many more methods must be registered (0 when enough). */
  missing: number;
}

export interface RequestInfo {
  ip?: string;
  clientId?: string;
  flowId?: string;
}

export class RegistrationService extends Service<{ store: Store; config: () => Config; clock: Clock; methods: MethodRegistry; notifier: ChangeNotifier; standing: StandingService }> {
  async overview(user: User, t: Translate): Promise<Overview> {
    const facts = await this.deps.standing.facts(user.id);
    const s = this.deps.standing.evaluate(facts);
    const methods = s.available.map((id) => {
      const method = this.deps.methods.get(id)!;
      return { id, userManaged: methodFacts(id).userManaged, registered: s.registered.includes(id), summary: method.summary(facts, t) };
    });
    return { standing: s, methods, missing: missingMethods(s) };
  }

  /** The method a user may work on, or a clear refusal. */
  async #method(user: User, id: string) {
    const facts = await this.deps.standing.facts(user.id);
    const s = this.deps.standing.evaluate(facts);
    const method = this.deps.methods.get(id as MethodId);
    if (!method || !s.available.includes(method.id)) throw new AppError('method_unavailable');
    return { method, standing: s, facts };
  }

  async begin(user: User, id: string, ctx: Omit<MethodContext, 'user' | 'isAdmin'>) {
    const { method, standing: s } = await this.#method(user, id);
    return method.begin({ ...ctx, user, isAdmin: s.isAdmin });
  }

  async step(user: User, id: string, step: string, form: Form, ctx: Omit<MethodContext, 'user' | 'isAdmin'>, info: RequestInfo): Promise<StepOutcome> {
    const { method, standing: s } = await this.#method(user, id);
    if (!methodFacts(method.id).userManaged) throw new AppError('method_admin_only');
    const outcome = await method.step({ ...ctx, user, isAdmin: s.isAdmin }, step, form);
    if (outcome.kind === 'registered') {
      await this.#audit('sspr.method.' + outcome.change, user, info, { method: method.id });
      await this.deps.notifier.methodChanged(user, method.id, outcome.change, ctx.t, outcome.previous);
    }
    return outcome;
  }

  /** Removes a method unless that would leave fewer than the user needs. */
  async remove(user: User, id: string, t: Translate, info: RequestInfo): Promise<void> {
    const { method, standing: s, facts } = await this.#method(user, id);
    if (!methodFacts(method.id).userManaged) throw new AppError('method_admin_only');
    if (removalBelowRequirement(s, method.id)) throw new AppError('below_requirement');
    const previous = facts.methods.find((m) => m.kind === 'email')?.value;
    if (await method.remove(user)) {
      await this.#audit('sspr.method.removed', user, info, { method: method.id });
      await this.deps.notifier.methodChanged(user, method.id, 'removed', t, method.id === 'email' ? previous : undefined);
    }
  }

  /**
   * The interrupt was shown: recorded once per sign-in flow. The account's registration state keeps
   * the flow it was last shown in (one conditional UPDATE), so page reloads in that flow add nothing.
   */
  async started(user: User, info: RequestInfo): Promise<void> {
    if (!(await this.deps.store.sspr.registrationStarted(user.id, info.flowId ?? null, this.deps.clock.now()))) return;
    await this.#audit('sspr.registration.started', user, info, {});
  }

  /** "Finish": only when enough methods are registered. */
  async complete(user: User, info: RequestInfo): Promise<void> {
    await this.#confirm(user, info, await this.deps.standing.standing(user.id), 'sspr.registration.completed');
  }

  /** After a change on the security-info page: the methods as they are now count as confirmed, when they are enough. */
  async confirmIfEnough(user: User, info: RequestInfo): Promise<void> {
    const s = await this.deps.standing.standing(user.id);
    if (s.enough) await this.#confirm(user, info, s, 'sspr.registration.completed');
  }

  /** "Looks good": the registered methods are confirmed as they are. */
  async reconfirm(user: User, info: RequestInfo): Promise<void> {
    await this.#confirm(user, info, await this.deps.standing.standing(user.id), 'sspr.registration.confirmed');
  }

  async #confirm(user: User, info: RequestInfo, s: Standing, event: string): Promise<void> {
    if (!s.enough) throw new AppError('not_enough_methods');
    await this.deps.store.sspr.recordConfirmation(user.id, this.deps.clock.now());
    await this.#audit(event, user, info, { methods: s.registered.join(' ') });
  }

  /** "Not now", while the policy still allows skipping. */
  async skip(user: User, info: RequestInfo): Promise<void> {
    // The store checks and counts in one statement (standing().canSkip would be a race).
    const skips = await this.deps.store.sspr.addSkip(user.id, this.deps.clock.now(), this.deps.config().sspr.registration.maxSkips);
    if (skips === undefined) throw new AppError('skip_not_allowed');
    await this.#audit('sspr.registration.skipped', user, info, { skips });
  }

  async #audit(type: string, user: User, info: RequestInfo, details: Record<string, string | number>): Promise<void> {
    await this.deps.store.audit.record(
      { type, outcome: 'success', userId: user.id, clientId: info.clientId, ip: info.ip, flowId: info.flowId, details },
      this.deps.clock.now(),
    );
  }
}
