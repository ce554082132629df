/**
 * Who SSPR applies to, how many methods a user needs, and whether sign-in must be interrupted.
 * Pure functions over the configuration and the user's persisted state: the prompt checks call
 * them on every authorization, so a policy edit applies at the next sign-in.
 */
import type { SsprConfig } from '../config/sspr-schema.ts';
import type { StoredMethod, StoredAnswer, RegistrationState } from '../store/sspr.ts';
import { methodList, type MethodId } from '../methods/ids.ts';

export type Interrupt = 'none' | 'register' | 'reconfirm';

export interface UserFacts {
  groups: string[];
  methods: StoredMethod[];
  answers: StoredAnswer[];
  state: RegistrationState;
}

export interface Standing {
  inScope: boolean;
  isAdmin: boolean;
  /** Methods this user needs registered. */
  required: number;
  /** Methods this user may use (admins never get security questions). */
  available: MethodId[];
  /** Available methods the user has registered. */
  registered: MethodId[];
  /** Enough methods, and at least one that counts alone (not only the authenticator app). */
  enough: boolean;
  reconfirmDue: boolean;
  canSkip: boolean;
  interrupt: Interrupt;
}

const DAY = 86_400_000;

// sspr.methods has one key per method and nothing else: a method added to ids.ts without its
// setting (or the reverse) fails the type-check here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const methodSettingsMatchIds: Same<keyof SsprConfig['methods'], MethodId> = true;

const lower = (values: readonly string[]) => new Set(values.map((v) => v.normalize('NFKC').toLowerCase()));

/** Whether the user's groups meet a configured list (NFKC, case-insensitive). */
export function intersects(a: readonly string[], b: readonly string[]): boolean {
  const set = lower(b);
  return a.some((v) => set.has(v.normalize('NFKC').toLowerCase()));
}

/** The methods `sspr.methods` offers this user, in display order (admins: only those allowed for them). */
export function availableMethods(config: SsprConfig, isAdmin: boolean): MethodId[] {
  return methodList.filter((m) => m.offered(config.methods) && (!isAdmin || m.allowedForAdmins)).map((m) => m.id);
}

function isRegistered(method: (typeof methodList)[number], facts: UserFacts, config: SsprConfig): boolean {
  if ('registered' in method) return method.registered(facts, config);
  return facts.methods.some((m) => m.kind === method.storedKind && m.verifiedAt !== null);
}

export function standing(config: SsprConfig, facts: UserFacts, now: number): Standing {
  const inScope = config.enabled === 'all' || (config.enabled === 'selected' && intersects(facts.groups, config.groups));
  const isAdmin = intersects(facts.groups, config.administrators.groups);
  const required = isAdmin ? 2 : config.methodsRequired;
  const available = availableMethods(config, isAdmin);
  const registeredMethods = methodList.filter((m) => available.includes(m.id) && isRegistered(m, facts, config));
  const registered = registeredMethods.map((m) => m.id);
  const enough = registered.length >= required && registeredMethods.some((m) => m.countsAlone);
  const days = config.registration.reconfirmAfterDays;
  const reconfirmDue = days > 0 && (facts.state.confirmedAt === null || facts.state.confirmedAt + days * DAY <= now);
  const maxSkips = config.registration.maxSkips;
  const canSkip = maxSkips === null || facts.state.skips < maxSkips;
  let interrupt: Interrupt = 'none';
  if (inScope && config.registration.requireOnSignIn) {
    if (!enough) interrupt = 'register';
    else if (reconfirmDue) interrupt = 'reconfirm';
  }
  return { inScope, isAdmin, required, available, registered, enough, reconfirmDue, canSkip, interrupt };
}
