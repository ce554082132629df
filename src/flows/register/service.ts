/**
 * Registration of recovery methods: the interrupt at sign-in, reconfirmation and the setup page
 * all use this service. No HTTP here.
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
import { standing, type Standing, type UserFacts, type Interrupt } from '../../sspr/policy.ts';
import { AppError } from '../../errors.ts';

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

export class RegistrationService {
  readonly #store: Store;
  readonly #config: () => Config;
  readonly #clock: Clock;
  readonly #methods: MethodRegistry;
  readonly #notifier: ChangeNotifier;

  constructor(deps: { store: Store; config: () => Config; clock: Clock; methods: MethodRegistry; notifier: ChangeNotifier }) {
    this.#store = deps.store;
    this.#config = deps.config;
    this.#clock = deps.clock;
    this.#methods = deps.methods;
    this.#notifier = deps.notifier;
  }

  async facts(userId: string): Promise<UserFacts> {
    const [groups, methods, answers, state] = await Promise.all([
      this.#store.users.groupsOf(userId),
      this.#store.sspr.methods(userId),
      this.#store.sspr.answers(userId),
      this.#store.sspr.state(userId),
    ]);
    return { groups, methods, answers, state };
  }

  async standing(userId: string): Promise<Standing> {
    return this.evaluate(await this.facts(userId));
  }

  /** The standing for facts already loaded (saves reading them twice). */
  evaluate(facts: UserFacts): Standing {
    return standing(this.#config().sspr, facts, this.#clock.now());
  }

  /** What sign-in must do for this account now; read from persisted state on every authorization. */
  async interruptFor(accountId: string): Promise<Interrupt> {
    const sspr = this.#config().sspr;
    // Nothing can interrupt: don't touch the database on the sign-in hot path.
    if (sspr.enabled === 'none' || !sspr.registration.requireOnSignIn) return 'none';
    const user = await this.#store.users.findById(accountId);
    if (!user || user.status !== 'enabled') return 'none';
    return (await this.standing(accountId)).interrupt;
  }

  async overview(user: User, t: Translate): Promise<Overview> {
    const facts = await this.facts(user.id);
    const s = this.evaluate(facts);
    const methods = s.available.map((id) => {
      const method = this.#methods.get(id)!;
      return { id, userManaged: methodFacts(id).userManaged, registered: s.registered.includes(id), summary: method.summary(facts, t) };
    });
    const nonApp = s.registered.some((id) => methodFacts(id).countsAlone);
    const missing = Math.max(s.required - s.registered.length, nonApp ? 0 : 1);
    return { standing: s, methods, missing };
  }

  /** The method a user may work on, or a clear refusal. */
  async #method(user: User, id: string) {
    const facts = await this.facts(user.id);
    const s = this.evaluate(facts);
    const method = this.#methods.get(id as MethodId);
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
      await this.#notifier.methodChanged(user, method.id, outcome.change, ctx.t, outcome.previous);
    }
    return outcome;
  }

  /** Removes a method unless that would leave fewer than the user needs. */
  async remove(user: User, id: string, t: Translate, info: RequestInfo): Promise<void> {
    const { method, standing: s, facts } = await this.#method(user, id);
    if (!methodFacts(method.id).userManaged) throw new AppError('method_admin_only');
    const remaining = s.registered.filter((m) => m !== method.id);
    if (s.inScope && s.registered.includes(method.id) && (remaining.length < s.required || !remaining.some((m) => methodFacts(m).countsAlone))) {
      throw new AppError('below_requirement');
    }
    const previous = facts.methods.find((m) => m.kind === 'email')?.value;
    if (await method.remove(user)) {
      await this.#audit('sspr.method.removed', user, info, { method: method.id });
      await this.#notifier.methodChanged(user, method.id, 'removed', t, method.id === 'email' ? previous : undefined);
    }
  }

  /** The interrupt was shown: recorded once per sign-in flow. */
  async started(user: User, info: RequestInfo): Promise<void> {
    if (info.flowId && (await this.#store.audit.list({ userId: user.id, type: 'sspr.registration.started', since: this.#clock.now() - 86_400_000 })).some((e) => e.flowId === info.flowId)) return;
    await this.#audit('sspr.registration.started', user, info, {});
  }

  /** "Finish": only when enough methods are registered. */
  async complete(user: User, info: RequestInfo): Promise<void> {
    const s = await this.standing(user.id);
    if (!s.enough) throw new AppError('not_enough_methods');
    await this.#store.sspr.recordConfirmation(user.id, this.#clock.now());
    await this.#audit('sspr.registration.completed', user, info, { methods: s.registered.join(' ') });
  }

  /** "Looks good": the registered methods are confirmed as they are. */
  async reconfirm(user: User, info: RequestInfo): Promise<void> {
    const s = await this.standing(user.id);
    if (!s.enough) throw new AppError('not_enough_methods');
    await this.#store.sspr.recordConfirmation(user.id, this.#clock.now());
    await this.#audit('sspr.registration.confirmed', user, info, { methods: s.registered.join(' ') });
  }

  /** "Not now", while the policy still allows skipping. */
  async skip(user: User, info: RequestInfo): Promise<void> {
    // The store checks and counts in one statement (standing().canSkip would be a race).
    const skips = await this.#store.sspr.addSkip(user.id, this.#clock.now(), this.#config().sspr.registration.maxSkips);
    if (skips === undefined) throw new AppError('skip_not_allowed');
    await this.#audit('sspr.registration.skipped', user, info, { skips });
  }

  async #audit(type: string, user: User, info: RequestInfo, details: Record<string, string | number>): Promise<void> {
    await this.#store.audit.record(
      { type, outcome: 'success', userId: user.id, clientId: info.clientId, ip: info.ip, flowId: info.flowId, details },
      this.#clock.now(),
    );
  }
}
