/**
 * "Can't access your account?": identify, the three refusals, verification with one or two
 * methods, unlock or reset, and what follows a reset. No HTTP here; see state.ts for the diagram.
 */
import { createHash, randomBytes } from 'node:crypto';
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
import type { RegistrationService } from '../register/service.ts';
import type { UserService } from '../../users/service.ts';
import { checkNewPassword, type PasswordProblem } from '../../security/password-policy.ts';
import type { Throttle } from '../../security/throttle.ts';
import type { HelpdeskRequests } from './helpdesk.ts';
import type { ResetGate, StartRequest } from './gate.ts';
import { usernameKey } from '../../users/names.ts';
import { AppError } from '../../errors.ts';
import { canMove, type FlowData, type FlowState, type RefusalReason } from './state.ts';
import { writebackRefused } from '../../directory/refusal.ts';

/** Lets an integrator set passwords in an on-premises directory (password writeback). */
export interface PasswordWriteback {
  /** Sets the new password there; a DirectoryPolicyRefusal (src/directory/errors.ts) is shown to the user, who can try again. */
  setPassword(user: { id: string; username: string }, newPassword: string): Promise<void>;
  /** Ends a lockout there (optional: without it an unlock changes only the local lockout). */
  unlock?(user: { id: string; username: string }): Promise<void>;
}

export interface Flow {
  id: string;
  user: User | undefined;
  state: FlowState;
  data: FlowData;
  version: number;
  expiresAt: number;
}

export interface RequestInfo {
  ip?: string;
  locale: Locale;
  t: Translate;
}

const hash = (id: string) => createHash('sha256').update(id).digest('hex');
/** How a flow appears in the audit trail: not its id (the cookie value), a prefix of its hash. */
const ref = (id: string) => hash(id).slice(0, 16);

export const flowExpired = () => new AppError('reset_expired');
const conflict = () => new AppError('reset_step_conflict');
const wrongStep = () => new AppError('reset_wrong_step');

export class RecoveryService {
  readonly #store: Store;
  readonly #config: () => Config;
  readonly #clock: Clock;
  readonly #users: UserService;
  readonly #registration: RegistrationService;
  readonly #challenges: ReadonlyMap<MethodId, ResetChallenge>;
  readonly #hasher: PasswordHasher;
  readonly #mail: MailDelivery;
  readonly #log: Logger;
  readonly #writeback: PasswordWriteback | undefined;
  readonly #throttle: Throttle;
  readonly #helpdesk: HelpdeskRequests;
  readonly #gate: ResetGate;

  constructor(deps: {
    store: Store;
    config: () => Config;
    clock: Clock;
    users: UserService;
    registration: RegistrationService;
    challenges: ReadonlyMap<MethodId, ResetChallenge>;
    hasher: PasswordHasher;
    mail: MailDelivery;
    log: Logger;
    throttle: Throttle;
    helpdesk: HelpdeskRequests;
    gate: ResetGate;
    writeback?: PasswordWriteback;
  }) {
    this.#store = deps.store;
    this.#config = deps.config;
    this.#clock = deps.clock;
    this.#users = deps.users;
    this.#registration = deps.registration;
    this.#challenges = deps.challenges;
    this.#hasher = deps.hasher;
    this.#mail = deps.mail;
    this.#log = deps.log;
    this.#writeback = deps.writeback;
    this.#throttle = deps.throttle;
    this.#helpdesk = deps.helpdesk;
    this.#gate = deps.gate;
  }

  /**
   * SSPR limits are kept per typed user id (normalised), so an unknown id is counted and blocked
   * exactly like a real one, and a real account is the same key however its name is typed.
   */
  #key(kind: string, typed: string): string {
    return `sspr:${kind}:${usernameKey(typed).slice(0, 256)}`;
  }

  async #block(typed: string, userId: string | undefined, info: { ip?: string; flowId?: string }, limit: string): Promise<void> {
    await this.#throttle.block(this.#key('block', typed), this.#config().sspr.limits.blockHours * 3600);
    await this.#audit('sspr.blocked', userId, info, 'failure', { limit });
  }

  /** Counts one costly action; on exceeding its limit the account is blocked from SSPR. */
  async #spend(flow: Flow, kind: 'email' | 'phone' | 'questions', info: { ip?: string }): Promise<boolean> {
    const limits = this.#config().sspr.limits;
    const limit = { email: { points: limits.emailsPer10Minutes, windowSeconds: 600 }, phone: { points: limits.phonePerHour, windowSeconds: 3600 }, questions: { points: limits.questionsPerHour, windowSeconds: 3600 } }[kind];
    const hit = await this.#throttle.hit(this.#key(kind, flow.data.typed), limit);
    if (!hit.allowed) await this.#block(flow.data.typed, flow.user?.id, { ...info, flowId: ref(flow.id) }, kind);
    return hit.allowed;
  }

  /**
   * After a successful reset or unlock every SSPR counter of the account starts again. A block is no
   * counter: a flow can only finish while there is none, and one set meanwhile stays.
   */
  async #resetCounters(typed: string): Promise<void> {
    for (const kind of ['resets', 'email', 'phone', 'questions']) await this.#throttle.reset(this.#key(kind, typed));
  }

  /** Ends a flow that can no longer succeed: refused for `reason`, audited as a failed reset. */
  async #end(flow: Flow, reason: 'blocked' | 'too_many_attempts' | 'not_registered' | 'not_enabled', info: { ip?: string }): Promise<Flow> {
    const moved = await this.#move(flow, 'refused', { ...flow.data, reason, current: undefined });
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
    if ((await this.#throttle.blockedFor(this.#key('block', flow.data.typed))) > 0) return this.#end(flow, 'blocked', info);
    if (!flow.user) return flow;
    const facts = known ?? (await this.#registration.facts(flow.user.id));
    if (flow.user.status !== 'enabled') return this.#end(flow, 'not_registered', info);
    if (!this.#registration.evaluate(facts).inScope) return this.#end(flow, 'not_enabled', info);
    if (flow.state === 'verify') {
      const usable = this.#usable(flow, facts);
      if (usable.length < flow.data.required - flow.data.proven.length) {
        // Worn out by wrong answers, or (rarely) methods removed since the flow started.
        const worn = Object.values(flow.data.failures).some((n) => (n ?? 0) >= this.#config().sspr.codes.maxAttempts);
        return this.#end(flow, worn ? 'too_many_attempts' : 'not_registered', info);
      }
    }
    return flow;
  }

  /** Registered methods not yet proven in this flow and not worn out by wrong answers. */
  #usable(flow: Flow, facts: UserFacts): MethodId[] {
    const limit = this.#config().sspr.codes.maxAttempts;
    return this.#registration.evaluate(facts).registered.filter((id) => !flow.data.proven.includes(id) && (flow.data.failures[id] ?? 0) < limit);
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
    await this.#gate.admit(request);
    const info = { ip: request.ip };
    const now = this.#clock.now();
    const config = this.#config();
    const user = await this.#users.find(typed);
    const active = user && user.status === 'enabled' ? user : undefined;
    const standing = await this.#registration.standing(active?.id ?? '00000000-0000-0000-0000-000000000000');
    const id = randomBytes(32).toString('base64url');
    const at = { ...info, flowId: ref(id) };
    let state: FlowState = 'verify';
    let reason: RefusalReason | undefined;
    const limits = config.sspr.limits;
    if ((await this.#throttle.blockedFor(this.#key('block', typed))) > 0) reason = 'blocked';
    else if (!(await this.#throttle.hit(this.#key('resets', typed), { points: limits.resetsPerDay, windowSeconds: 86_400 })).allowed) {
      await this.#block(typed, active?.id, at, 'resets');
      reason = 'blocked';
    } else if (!active) reason = 'not_registered';
    else if (!standing.inScope) reason = 'not_enabled';
    else if (!standing.enough) reason = 'not_registered';
    else if (active.passwordSource === 'onpremises' && !config.sspr.onPremises.passwordWriteback) reason = 'onprem_managed';
    // Said before the user proves anything, not after: the last step could never succeed.
    else if (active.passwordSource === 'onpremises' && !this.#writeback) reason = 'writeback_unavailable';
    if (reason) state = 'refused';
    const data: FlowData = { typed: typed.trim().slice(0, 256), required: standing.required, proven: [], failures: {}, ...(reason ? { reason } : {}), ...(returnTo ? { returnTo } : {}) };
    await this.#store.reset.create(hash(id), { userId: active?.id ?? null, state, data: { ...data }, createdAt: now, expiresAt: now + config.sspr.resetFlowMinutes * 60_000 });
    await this.#audit('sspr.reset.started', active?.id, at, reason ? 'failure' : 'success', reason ? { reason } : {});
    return id;
  }

  async load(id: string | undefined): Promise<Flow> {
    if (!id || id.length > 100) throw flowExpired();
    const row = await this.#store.reset.find(hash(id), this.#clock.now());
    if (!row) throw flowExpired();
    const user = row.userId ? await this.#users.byId(row.userId) : undefined;
    return { id, user, state: row.state as FlowState, data: row.data as unknown as FlowData, version: row.version, expiresAt: row.expiresAt };
  }

  /** Moves the flow on, only along the diagram in state.ts and only from the version read. */
  async #move(flow: Flow, state: FlowState, data: FlowData): Promise<Flow> {
    if (!canMove(flow.state, state)) throw wrongStep();
    if (!(await this.#store.reset.transition(hash(flow.id), flow.version, state, { ...data }, this.#clock.now()))) throw conflict();
    return { ...flow, state, data, version: flow.version + 1 };
  }

  /** The flow's last move, to done: the account changes in the same transaction (see ResetStore.finish). */
  async #finish(flow: Flow, user: User, passwordHash: string | null, data: FlowData): Promise<Flow> {
    if (!canMove(flow.state, 'done')) throw wrongStep();
    if (!(await this.#store.reset.finish(hash(flow.id), flow.version, user.id, passwordHash, { ...data }, this.#clock.now()))) throw conflict();
    return { ...flow, state: 'done', data, version: flow.version + 1 };
  }

  #require(flow: Flow, ...states: FlowState[]): User {
    if (!states.includes(flow.state) || !flow.user) throw wrongStep();
    return flow.user;
  }

  /** Methods the user may still use to prove who they are (registered, available, not yet proven, not worn out). */
  async methodChoices(flow: Flow, t: Translate, known?: UserFacts): Promise<{ id: MethodId; label: string }[]> {
    const user = this.#require(flow, 'verify');
    const facts = known ?? (await this.#registration.facts(user.id));
    return this.#usable(flow, facts).map((id) => ({ id, label: this.#challenges.get(id)!.label(facts, t) }));
  }

  /** The user picks a method: its challenge starts (a code may be sent). */
  async choose(flow: Flow, method: string, info: RequestInfo): Promise<{ flow: Flow; page: ChallengePage | undefined }> {
    const user = this.#require(flow, 'verify');
    const facts = await this.#registration.facts(user.id);
    const open = await this.#ensureOpen(flow, info, facts);
    if (open.state !== 'verify') return { flow: open, page: undefined };
    const choices = await this.methodChoices(flow, info.t, facts);
    const challenge = this.#challenges.get(method as MethodId);
    if (!challenge || !choices.some((c) => c.id === challenge.id)) throw new AppError('reset_method_unavailable');
    const outcome = await challenge.start({ user, facts, locale: info.locale, t: info.t, saved: {}, flow: ref(flow.id), spend: (kind) => this.#spend(flow, kind, info) });
    if (outcome.kind === 'blocked') return { flow: await this.#end(flow, 'blocked', info), page: undefined };
    if (outcome.kind !== 'page') throw new Error('a challenge cannot be proven before it starts');
    const moved = await this.#move(flow, 'verify', { ...flow.data, current: { method: challenge.id, saved: outcome.saved, page: { view: outcome.page.view, locals: outcome.page.locals } } });
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
    return this.#move(flow, 'verify', { ...flow.data, current: undefined });
  }

  /** The user answers the current challenge. */
  async answer(flow: Flow, form: Form, info: RequestInfo): Promise<{ flow: Flow; page?: ChallengePage }> {
    const user = this.#require(flow, 'verify');
    const current = flow.data.current;
    if (!current) throw wrongStep();
    const facts = await this.#registration.facts(user.id);
    const open = await this.#ensureOpen(flow, info, facts);
    if (open.state !== 'verify') return { flow: open };
    const challenge = this.#challenges.get(current.method)!;
    const outcome = await challenge.step({ user, facts, locale: info.locale, t: info.t, saved: current.saved, flow: ref(flow.id), spend: (kind) => this.#spend(flow, kind, info) }, form);
    if (outcome.kind === 'blocked') return { flow: await this.#end(flow, 'blocked', info) };
    if (outcome.kind === 'page') {
      const failures = { ...flow.data.failures };
      if (outcome.failed) failures[current.method] = (failures[current.method] ?? 0) + 1;
      await this.#audit('sspr.reset.step', user.id, { ...info, flowId: ref(flow.id) }, outcome.failed ? 'failure' : 'info', { method: current.method });
      const worn = (failures[current.method] ?? 0) >= this.#config().sspr.codes.maxAttempts;
      const data: FlowData = { ...flow.data, failures, current: worn ? undefined : { method: current.method, saved: outcome.saved, page: { view: outcome.page.view, locals: outcome.page.locals } } };
      const moved = await this.#move(flow, 'verify', data);
      // A worn-out method may leave too few to finish: then the flow ends here.
      if (worn) return { flow: await this.#ensureOpen(moved, info, facts) };
      return { flow: moved, page: outcome.page };
    }
    await this.#audit('sspr.reset.step', user.id, { ...info, flowId: ref(flow.id) }, 'success', { method: current.method, step: flow.data.proven.length + 1 });
    const proven = [...flow.data.proven, current.method];
    const data: FlowData = { ...flow.data, proven, current: undefined };
    if (proven.length < flow.data.required) return { flow: await this.#move(flow, 'verify', data) };
    const locked = user.lockedUntil !== null && user.lockedUntil > this.#clock.now();
    const next: FlowState = locked && this.#config().sspr.onPremises.allowUnlockWithoutReset ? 'choose' : 'password';
    return { flow: await this.#move(flow, next, data) };
  }

  /** From "choose": unlock only (no new password), or go on to a new password. */
  async decide(flow: Flow, choice: string, info: RequestInfo): Promise<Flow> {
    const user = this.#require(flow, 'choose');
    const open = await this.#ensureOpen(flow, info);
    if (open.state !== 'choose') return open;
    if (choice === 'reset') return this.#move(flow, 'password', flow.data);
    if (choice !== 'unlock') throw new AppError('reset_bad_choice');
    const data: FlowData = { ...flow.data, outcome: 'unlocked' };
    // The directory first (a failure there changes nothing here).
    if (user.passwordSource === 'onpremises') await this.#writeback?.unlock?.(user);
    await this.#finish(flow, user, null, data);
    await this.#audit('sspr.unlocked', user.id, { ...info, flowId: ref(flow.id) }, 'success', {});
    await this.#resetCounters(flow.data.typed);
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
    const config = this.#config();
    const problems = checkNewPassword(config.passwordPolicy, password, confirmation, { username: user.username, displayName: user.displayName, email: user.email });
    if (problems.length) return { flow, problems };
    const at = { ...info, flowId: ref(flow.id) };
    const onPremises = user.passwordSource === 'onpremises';
    if (onPremises) {
      if (!config.sspr.onPremises.passwordWriteback) throw new AppError('SSPR_ONPREM_MANAGED');
      if (!this.#writeback) {
        // Only when writeback was switched on while this flow ran: start() refuses such accounts.
        await this.#audit('sspr.reset.failed', user.id, at, 'failure', { reason: 'writeback_unavailable' });
        throw new AppError('writeback_unavailable');
      }
    }
    const passwordHash = await this.#hasher.hash(password);
    // Once more right before the finish: a block set while the hash was computed counts too.
    const still = await this.#ensureOpen(flow, info);
    if (still.state !== 'password') return { flow: still, problems: [] };
    const data: FlowData = { ...flow.data, outcome: 'reset' };
    let done: Flow;
    if (onPremises) {
      const claimed = await this.#move(flow, 'finishing', flow.data);
      try {
        await this.#writeback!.setPassword({ id: user.id, username: user.username }, password);
      } catch (error) {
        const refused = await writebackRefused(error, () => this.#move(claimed, 'password', flow.data), (reason) => this.#audit('sspr.reset.failed', user.id, at, 'failure', reason));
        if (refused) return refused;
        this.#log.error({ event: 'writeback.failed', userId: user.id, flowId: at.flowId, err: { message: (error as Error).message } }, 'password writeback failed');
        await this.#move(claimed, 'password', flow.data);
        await this.#audit('sspr.reset.failed', user.id, at, 'failure', { reason: 'writeback' });
        throw new AppError('writeback_failed');
      }
      done = await this.#finishAfterWriteback(claimed, user, passwordHash, data, at);
    } else {
      done = await this.#finish(flow, user, passwordHash, data);
    }
    await this.#audit('sspr.reset.completed', user.id, at, 'success', { methods: flow.data.proven.join(' ') });
    await this.#resetCounters(flow.data.typed);
    await this.#notifyReset(user, info.t);
    return { flow: done, problems: [] };
  }

  /**
   * The local half of an on-premises reset, after the directory accepted the new password. If it
   * fails (the database went away) the two disagree until the user tries again: that is logged as an
   * error naming the account, the flow goes back to the password step where it can be (best effort,
   * the database may still be away), and the user is asked to submit the new password once more.
   */
  async #finishAfterWriteback(claimed: Flow, user: User, passwordHash: string, data: FlowData, at: { ip?: string; flowId: string }): Promise<Flow> {
    try {
      return await this.#finish(claimed, user, passwordHash, data);
    } catch (error) {
      this.#log.error(
        { event: 'reset.incomplete', userId: user.id, username: user.username, flowId: at.flowId, err: { message: (error as Error).message } },
        'the directory has the new password but storing it here failed: the user is asked to submit it again',
      );
      try {
        await this.#move(claimed, 'password', claimed.data);
        await this.#audit('sspr.reset.failed', user.id, at, 'failure', { reason: 'incomplete' });
      } catch (again) {
        this.#log.error({ event: 'reset.incomplete.unrecorded', userId: user.id, flowId: at.flowId, err: { message: (again as Error).message } }, 'could not reopen the flow or audit the incomplete reset');
      }
      throw new AppError('reset_incomplete');
    }
  }

  /** Best effort: the user's addresses, and the other administrators when an administrator reset. */
  async #notifyReset(user: User, t: Translate): Promise<void> {
    const config = this.#config();
    const organisation = config.ui.organisation;
    const send = async (to: string, subject: string, text: string, kind: string) => {
      try {
        await this.#mail.send({ to, subject, text, userId: user.id, kind });
      } catch (error) {
        this.#log.warn({ event: 'notify.failed', kind, userId: user.id, err: { message: (error as Error).message } }, 'reset notification not delivered');
      }
    };
    const facts = await this.#registration.facts(user.id);
    if (config.sspr.notifications.userOnReset) {
      const addresses = new Set([user.email, facts.methods.find((m) => m.kind === 'email')?.value].filter((a): a is string => Boolean(a)));
      for (const to of addresses) await send(to, t('mail.reset_done.subject', { organisation }), t('mail.reset_done.body', { organisation, username: user.username }), 'notify.reset');
    }
    if (this.#registration.evaluate(facts).isAdmin && config.sspr.notifications.adminsOnAdminReset) {
      const admins = await this.#store.reset.memberEmails(config.sspr.administrators.groups.map((g) => g.normalize('NFKC').toLowerCase()), 100, user.id);
      for (const to of admins) await send(to, t('mail.admin_reset.subject', { organisation }), t('mail.admin_reset.body', { organisation, username: user.username }), 'notify.admin_reset');
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
    const moved = await this.#move(flow, 'refused', { ...flow.data, contacted: true });
    const first = await this.#throttle.hit(this.#key('contact', flow.data.typed), { points: 1, windowSeconds: 3600 });
    if (first.allowed && flow.user) {
      this.#helpdesk.send({ user: flow.user, reason: flow.data.reason ?? 'not_registered', t: info.t, ip: info.ip, flowId: ref(flow.id) });
    }
    return moved;
  }

  async #audit(type: string, userId: string | undefined, info: { ip?: string; flowId?: string }, outcome: 'success' | 'failure' | 'info', details: Record<string, string | number>): Promise<void> {
    await this.#store.audit.record({ type, outcome, userId: userId ?? null, ip: info.ip, flowId: info.flowId, details }, this.#clock.now());
  }
}
