/**
 * "Can't access your account?": identify, the three refusals, verification with one or two
 * methods, unlock or reset, and what follows a reset. No HTTP here. Beside it: state.ts (the
 * diagram), flows.ts (how a flow is kept), limits.ts (the SSPR limits), notify.ts (the mails after
 * a reset), helpdesk.ts ("contact an administrator"); facts and standing come from StandingService.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../../store/index.ts';
import type { User } from '../../store/users.ts';
import type { Config } from '../../config/schema.ts';
import type { Clock } from '../../clock.ts';
import type { Locale, Translate } from '../../i18n/index.ts';
import type { Form } from '../../security/form.ts';
import type { PasswordHasher } from '../../security/password.ts';
import type { MailDelivery } from '../../delivery/index.ts';
import type { ResetChallenge, ChallengePage } from '../../methods/types.ts';
import type { MethodId } from '../../methods/ids.ts';
import type { UserFacts } from '../../sspr/policy.ts';
import { NO_ACCOUNT, type StandingService } from '../../sspr/standing.ts';
import type { UserService } from '../../users/service.ts';
import { checkNewPassword, type PasswordProblem } from '../../security/password-policy.ts';
import type { Throttle } from '../../security/throttle.ts';
import type { HelpdeskRequests } from './helpdesk.ts';
import type { ResetGate, StartRequest } from './gate.ts';
import { usernameKey } from '../../users/names.ts';
import { AppError } from '../../errors.ts';
import type { FlowData, FlowState, RefusalReason } from './state.ts';
import { ResetFlows, wrongStep, type Flow } from './flows.ts';
import { writebackRefused } from '../../directory/refusal.ts';
import { ref, resetAudit, type ResetAudit } from './audit.ts';
import { ResetLimits } from './limits.ts';
import { ResetNotices } from './notify.ts';
import { lockedInDirectory, writebackManages, type PasswordWriteback } from '../../directory/writeback.ts';
import { Service } from '../../service.ts';

/** Lets an integrator set passwords in an on-premises directory (password writeback): see src/directory/writeback.ts. */
export type { PasswordWriteback };

export interface RequestInfo {
  ip?: string;
  locale: Locale;
  t: Translate;
}

export { flowExpired, type Flow } from './flows.ts';

interface RecoveryServiceDeps {
  store: Store;
  config: () => Config;
  clock: Clock;
  users: UserService;
  standing: StandingService;
  challenges: ReadonlyMap<MethodId, ResetChallenge>;
  hasher: PasswordHasher;
  mail: MailDelivery;
  log: Logger;
  throttle: Throttle;
  helpdesk: HelpdeskRequests;
  gate: ResetGate;
  writeback?: PasswordWriteback;
}

export class RecoveryService extends Service<RecoveryServiceDeps> {
  readonly #limits: ResetLimits;
  readonly #notices: ResetNotices;
  readonly #audit: ResetAudit;
  readonly #flows: ResetFlows;

  constructor(deps: RecoveryServiceDeps) {
    super(deps);
    this.#audit = resetAudit(deps.store.audit, deps.clock);
    this.#flows = new ResetFlows({ store: deps.store, users: deps.users, clock: deps.clock });
    this.#limits = new ResetLimits({ throttle: deps.throttle, config: deps.config, audit: this.#audit });
    this.#notices = new ResetNotices({ store: deps.store, config: deps.config, standing: deps.standing, mail: deps.mail, log: deps.log });
  }

  /** Counts one costly action of the flow (see ResetLimits.spend). */
  #spend(flow: Flow, kind: 'email' | 'phone' | 'questions', info: { ip?: string }): Promise<boolean> {
    return this.#limits.spend(flow.data.typed, kind, flow.user?.id, { ...info, flowId: ref(flow.id) });
  }

  /** Ends a flow that can no longer succeed: refused for `reason`, audited as a failed reset. */
  async #end(flow: Flow, reason: 'blocked' | 'too_many_attempts' | 'not_registered' | 'not_enabled', info: { ip?: string }): Promise<Flow> {
    const moved = await this.#flows.move(flow, 'refused', { ...flow.data, reason, current: undefined });
    await this.#audit('sspr.reset.failed', flow.user?.id, { ...info, flowId: ref(flow.id) }, 'failure', { reason });
    return moved;
  }

  /**
   * What every step of an open flow checks first: a block on the account (exceeding a limit here or
   * in any other flow, since this one started) ends the flow; so does, while verifying, having fewer
   * usable methods left than proofs still needed (too many wrong answers: SSPR_TOO_MANY_ATTEMPTS).
   * SSPR must still apply: an account disabled or taken out of scope since the flow started ends it.
   * Returns the flow as it now is.
   */
  async #ensureOpen(flow: Flow, info: { ip?: string }, known?: UserFacts): Promise<Flow> {
    if (flow.state !== 'verify' && flow.state !== 'choose' && flow.state !== 'password') return flow;
    if (await this.#limits.blocked(flow.data.typed)) return this.#end(flow, 'blocked', info);
    if (!flow.user) return flow;
    const facts = known ?? (await this.deps.standing.facts(flow.user.id));
    if (flow.user.status !== 'enabled') return this.#end(flow, 'not_registered', info);
    if (!this.deps.standing.evaluate(facts).inScope) return this.#end(flow, 'not_enabled', info);
    if (flow.state === 'verify') {
      const usable = this.#usable(flow, facts);
      if (usable.length < flow.data.required - flow.data.proven.length) {
        // Worn out by wrong answers, or (rarely) methods removed since the flow started.
        const worn = Object.values(flow.data.failures).some((n) => (n ?? 0) >= this.deps.config().sspr.codes.maxAttempts);
        return this.#end(flow, worn ? 'too_many_attempts' : 'not_registered', info);
      }
    }
    return flow;
  }

  /** Registered methods not yet proven in this flow and not worn out by wrong answers. */
  #usable(flow: Flow, facts: UserFacts): MethodId[] {
    const limit = this.deps.config().sspr.codes.maxAttempts;
    return this.deps.standing.evaluate(facts).registered.filter((id) => !flow.data.proven.includes(id) && (flow.data.failures[id] ?? 0) < limit);
  }

  /** The flow as a page may show it: the checks of every step applied (see #ensureOpen). */
  async current(flow: Flow, info: { ip?: string }): Promise<Flow> {
    return this.#ensureOpen(flow, info);
  }

  /**
   * Starts a flow for a typed user id and runs the checks in Entra's order. An unknown user id
   * gets exactly what a real account without enough methods gets, after the same database work.
   * The gate (CAPTCHA, per-address budget) comes first and throws its AppError.
   */
  async start(typed: string, returnTo: string | undefined, request: StartRequest): Promise<string> {
    await this.deps.gate.admit(request);
    const info = { ip: request.ip };
    const now = this.deps.clock.now();
    const config = this.deps.config();
    const user = await this.deps.users.find(typed);
    const active = user && user.status === 'enabled' ? user : undefined;
    const standing = await this.deps.standing.standing(active?.id ?? NO_ACCOUNT);
    const id = randomBytes(32).toString('base64url');
    const at = { ...info, flowId: ref(id) };
    let state: FlowState = 'verify';
    let reason: RefusalReason | undefined;
    if (await this.#limits.blocked(typed)) reason = 'blocked';
    else if (!(await this.#limits.startReset(typed, active?.id, at))) reason = 'blocked';
    else if (!active) reason = 'not_registered';
    else if (!standing.inScope) reason = 'not_enabled';
    else if (!standing.enough) reason = 'not_registered';
    else if (active.passwordSource === 'onpremises' && !config.sspr.onPremises.passwordWriteback) reason = 'onprem_managed';
    // Said before the user proves anything, not after: the last step could never succeed.
    else if (active.passwordSource === 'onpremises' && !this.deps.writeback) reason = 'writeback_unavailable';
    else if (active.passwordSource === 'onpremises' && !(await writebackManages(this.deps.writeback!, active))) reason = 'onprem_managed';
    if (reason) state = 'refused';
    const data: FlowData = { typed: typed.trim().slice(0, 256), required: standing.required, proven: [], failures: {}, ...(reason ? { reason } : {}), ...(returnTo ? { returnTo } : {}) };
    await this.#flows.create(id, active?.id ?? null, state, data, now + config.sspr.resetFlowMinutes * 60_000);
    await this.#audit('sspr.reset.started', active?.id, at, reason ? 'failure' : 'success', reason ? { reason } : {});
    return id;
  }

  /** The open flow of a cookie id (see ResetFlows.load). */
  load(id: string | undefined): Promise<Flow> {
    return this.#flows.load(id);
  }

  #require(flow: Flow, ...states: FlowState[]): User {
    if (!states.includes(flow.state) || !flow.user) throw wrongStep();
    return flow.user;
  }

  /** Methods the user may still use to prove who they are (registered, available, not yet proven, not worn out). */
  async methodChoices(flow: Flow, t: Translate, known?: UserFacts): Promise<{ id: MethodId; label: string }[]> {
    const user = this.#require(flow, 'verify');
    const facts = known ?? (await this.deps.standing.facts(user.id));
    return this.#usable(flow, facts).map((id) => ({ id, label: this.deps.challenges.get(id)!.label(facts, t) }));
  }

  /** The user picks a method: its challenge starts (a code may be sent). */
  async choose(flow: Flow, method: string, info: RequestInfo): Promise<{ flow: Flow; page: ChallengePage | undefined }> {
    const user = this.#require(flow, 'verify');
    const facts = await this.deps.standing.facts(user.id);
    const open = await this.#ensureOpen(flow, info, facts);
    if (open.state !== 'verify') return { flow: open, page: undefined };
    const choices = await this.methodChoices(flow, info.t, facts);
    const challenge = this.deps.challenges.get(method as MethodId);
    if (!challenge || !choices.some((c) => c.id === challenge.id)) throw new AppError('reset_method_unavailable');
    const outcome = await challenge.start({ user, facts, locale: info.locale, t: info.t, saved: {}, flow: ref(flow.id), spend: (kind) => this.#spend(flow, kind, info) });
    if (outcome.kind === 'blocked') return { flow: await this.#end(flow, 'blocked', info), page: undefined };
    if (outcome.kind !== 'page') throw new Error('a challenge cannot be proven before it starts');
    const moved = await this.#flows.move(flow, 'verify', { ...flow.data, current: { method: challenge.id, saved: outcome.saved, page: { view: outcome.page.view, locals: outcome.page.locals } } });
    return { flow: moved, page: outcome.page };
  }

  /** The current challenge's page again (after a reload), as it was last shown. */
  currentPage(flow: Flow): ChallengePage | undefined {
    return flow.state === 'verify' ? flow.data.current?.page : undefined;
  }

  /** Leaves the current challenge for another method. */
  async dropChallenge(flow: Flow, info: { ip?: string }): Promise<Flow> {
    this.#require(flow, 'verify');
    const open = await this.#ensureOpen(flow, info);
    if (open.state !== 'verify') return open;
    return this.#flows.move(flow, 'verify', { ...flow.data, current: undefined });
  }

  /** The user answers the current challenge. */
  async answer(flow: Flow, form: Form, info: RequestInfo): Promise<{ flow: Flow; page?: ChallengePage }> {
    const user = this.#require(flow, 'verify');
    const current = flow.data.current;
    if (!current) throw wrongStep();
    const facts = await this.deps.standing.facts(user.id);
    const open = await this.#ensureOpen(flow, info, facts);
    if (open.state !== 'verify') return { flow: open };
    const challenge = this.deps.challenges.get(current.method)!;
    const outcome = await challenge.step({ user, facts, locale: info.locale, t: info.t, saved: current.saved, flow: ref(flow.id), spend: (kind) => this.#spend(flow, kind, info) }, form);
    if (outcome.kind === 'blocked') return { flow: await this.#end(flow, 'blocked', info) };
    if (outcome.kind === 'page') {
      const failures = { ...flow.data.failures };
      if (outcome.failed) failures[current.method] = (failures[current.method] ?? 0) + 1;
      await this.#audit('sspr.reset.step', user.id, { ...info, flowId: ref(flow.id) }, outcome.failed ? 'failure' : 'info', { method: current.method });
      const worn = (failures[current.method] ?? 0) >= this.deps.config().sspr.codes.maxAttempts;
      const data: FlowData = { ...flow.data, failures, current: worn ? undefined : { method: current.method, saved: outcome.saved, page: { view: outcome.page.view, locals: outcome.page.locals } } };
      const moved = await this.#flows.move(flow, 'verify', data);
      // A worn-out method may leave too few to finish: then the flow ends here.
      if (worn) return { flow: await this.#ensureOpen(moved, info, facts) };
      return { flow: moved, page: outcome.page };
    }
    await this.#audit('sspr.reset.step', user.id, { ...info, flowId: ref(flow.id) }, 'success', { method: current.method, step: flow.data.proven.length + 1 });
    const proven = [...flow.data.proven, current.method];
    const data: FlowData = { ...flow.data, proven, current: undefined };
    if (proven.length < flow.data.required) return { flow: await this.#flows.move(flow, 'verify', data) };
    const unlockOnly = this.deps.config().sspr.onPremises.allowUnlockWithoutReset;
    const locked = (user.lockedUntil !== null && user.lockedUntil > this.deps.clock.now()) || (unlockOnly && (await lockedInDirectory(this.deps.writeback, user)));
    const next: FlowState = locked && unlockOnly ? 'choose' : 'password';
    return { flow: await this.#flows.move(flow, next, data) };
  }

  /** From "choose": unlock only (no new password), or go on to a new password. */
  async decide(flow: Flow, choice: string, info: RequestInfo): Promise<Flow> {
    const user = this.#require(flow, 'choose');
    const open = await this.#ensureOpen(flow, info);
    if (open.state !== 'choose') return open;
    if (choice === 'reset') return this.#flows.move(flow, 'password', flow.data);
    if (choice !== 'unlock') throw new AppError('reset_bad_choice');
    const data: FlowData = { ...flow.data, outcome: 'unlocked' };
    // The directory first (a failure there changes nothing here).
    if (user.passwordSource === 'onpremises') await this.deps.writeback?.unlock?.(user);
    await this.#flows.finish(flow, user, null, data);
    await this.#audit('sspr.unlocked', user.id, { ...info, flowId: ref(flow.id) }, 'success', {});
    await this.#limits.resetCounters(flow.data.typed);
    return { ...flow, state: 'done', data, version: flow.version + 1 };
  }

  /**
   * Sets the new password. Checks the policy; then, in one transaction, stores the hash, clears the
   * lockout and revokes every session, grant and token of the account. For an on-premises account
   * the flow is first claimed (password → finishing, on the version read), so only one submission
   * ever reaches the directory; the directory is written; then the local change finishes the flow.
   * A refused writeback moves the flow back to the password step and changes nothing here.
   */
  async setPassword(flow: Flow, password: string, confirmation: string, info: RequestInfo): Promise<{ flow: Flow; problems: PasswordProblem[] }> {
    const user = this.#require(flow, 'password');
    const open = await this.#ensureOpen(flow, info);
    if (open.state !== 'password') return { flow: open, problems: [] };
    const config = this.deps.config();
    const problems = checkNewPassword(config.passwordPolicy, password, confirmation, { username: user.username, displayName: user.displayName, email: user.email });
    if (problems.length) return { flow, problems };
    const at = { ...info, flowId: ref(flow.id) };
    const onPremises = user.passwordSource === 'onpremises';
    if (onPremises) {
      if (!config.sspr.onPremises.passwordWriteback) throw new AppError('SSPR_ONPREM_MANAGED');
      if (!this.deps.writeback) {
        // Only when writeback was switched on while this flow ran: start() refuses such accounts.
        await this.#audit('sspr.reset.failed', user.id, at, 'failure', { reason: 'writeback_unavailable' });
        throw new AppError('writeback_unavailable');
      }
    }
    // A directory that checks sign-ins itself keeps the password: no hash of it here.
    const passwordHash = onPremises && this.deps.writeback?.passThrough ? null : await this.deps.hasher.hash(password);
    // Once more right before the finish: a block set while the hash was computed counts too.
    const still = await this.#ensureOpen(flow, info);
    if (still.state !== 'password') return { flow: still, problems: [] };
    const data: FlowData = { ...flow.data, outcome: 'reset' };
    let done: Flow;
    if (onPremises) {
      const claimed = await this.#flows.move(flow, 'finishing', flow.data);
      try {
        await this.deps.writeback!.setPassword({ id: user.id, username: user.username }, password);
      } catch (error) {
        const refused = await writebackRefused(error, () => this.#flows.move(claimed, 'password', flow.data), (reason) => this.#audit('sspr.reset.failed', user.id, at, 'failure', reason));
        if (refused) return refused;
        this.deps.log.error({ event: 'writeback.failed', userId: user.id, flowId: at.flowId, err: { message: (error as Error).message } }, 'password writeback failed');
        await this.#flows.move(claimed, 'password', flow.data);
        await this.#audit('sspr.reset.failed', user.id, at, 'failure', { reason: 'writeback' });
        throw new AppError('writeback_failed');
      }
      done = await this.#finishAfterWriteback(claimed, user, passwordHash, data, at);
    } else {
      done = await this.#flows.finish(flow, user, passwordHash, data);
    }
    await this.#audit('sspr.reset.completed', user.id, at, 'success', { methods: flow.data.proven.join(' ') });
    await this.#limits.resetCounters(flow.data.typed);
    await this.#notices.passwordReset(user, info.t);
    return { flow: done, problems: [] };
  }

  /**
   * The local half of an on-premises reset, after the directory accepted the new password. If it
   * fails (the database went away) the two disagree until the user tries again: that is logged as an
   * error naming the account, the flow goes back to the password step where it can be (best effort,
   * the database may still be away), and the user is asked to submit the new password once more.
   */
  async #finishAfterWriteback(claimed: Flow, user: User, passwordHash: string | null, data: FlowData, at: { ip?: string; flowId: string }): Promise<Flow> {
    try {
      return await this.#flows.finish(claimed, user, passwordHash, data, true);
    } catch (error) {
      this.deps.log.error(
        { event: 'reset.incomplete', userId: user.id, username: user.username, flowId: at.flowId, err: { message: (error as Error).message } },
        'the directory has the new password but storing it here failed: the user is asked to submit it again',
      );
      try {
        await this.#flows.move(claimed, 'password', claimed.data);
        await this.#audit('sspr.reset.failed', user.id, at, 'failure', { reason: 'incomplete' });
      } catch (again) {
        this.deps.log.error({ event: 'reset.incomplete.unrecorded', userId: user.id, flowId: at.flowId, err: { message: (again as Error).message } }, 'could not reopen the flow or audit the incomplete reset');
      }
      throw new AppError('reset_incomplete');
    }
  }

  /**
   * "Contact an administrator" from a refusal page (see helpdesk.ts): once per flow, and at most
   * once per account per hour however many flows or instances ask (one atomic counter in the shared
   * database, kept by typed user id like every SSPR limit). Unknown user ids get the same answer
   * after the same database work, but nothing is sent; for a real account the mail goes out in the
   * background, so neither answer waits for SMTP.
   */
  async contactAdmin(flow: Flow, info: RequestInfo): Promise<Flow> {
    if (flow.state !== 'refused') throw wrongStep();
    if (flow.data.contacted) return flow;
    const moved = await this.#flows.move(flow, 'refused', { ...flow.data, contacted: true });
    if ((await this.#limits.firstContact(flow.data.typed)) && flow.user) {
      this.deps.helpdesk.send({ user: flow.user, reason: flow.data.reason ?? 'not_registered', t: info.t, ip: info.ip, flowId: ref(flow.id) });
    }
    return moved;
  }
}
