/**
 * Who SSPR applies to, how many methods a user needs, and whether sign-in must be interrupted.
 * Pure functions over the configuration and the user's persisted state: the prompt checks call
 * them on every authorization, so a policy edit applies at the next sign-in.
 */
import type { SsprConfig } from '../config/sspr-schema.ts';
import type { StoredMethod, StoredAnswer, RegistrationState } from '../store/sspr.ts';
import { methodOfKind, type MethodId } from '../methods/ids.ts';

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
  /** Enough methods, and not only the authenticator app. */
  enough: boolean;
  reconfirmDue: boolean;
  canSkip: boolean;
  interrupt: Interrupt;
}

const DAY = 86_400_000;

const lower = (values: readonly string[]) => new Set(values.map((v) => v.normalize('NFKC').toLowerCase()));

function intersects(a: readonly string[], b: readonly string[]): boolean {
  const set = lower(b);
  return a.some((v) => set.has(v.normalize('NFKC').toLowerCase()));
}

export function availableMethods(config: SsprConfig, isAdmin: boolean): MethodId[] {
  const m = config.methods;
  const list: MethodId[] = [];
  if (m.email) list.push('email');
  if (m.mobilePhone.enabled) list.push('mobilePhone');
  if (m.officePhone) list.push('officePhone');
  if (m.authenticatorApp) list.push('authenticatorApp');
  if (m.securityQuestions && !isAdmin) list.push('securityQuestions');
  return list;
}

export function standing(config: SsprConfig, facts: UserFacts, now: number): Standing {
  const inScope = config.enabled === 'all' || (config.enabled === 'selected' && intersects(facts.groups, config.groups));
  const isAdmin = intersects(facts.groups, config.administrators.groups);
  const required = isAdmin ? 2 : config.methodsRequired;
  const available = availableMethods(config, isAdmin);
  const present = new Set<MethodId>(facts.methods.filter((m) => m.verifiedAt !== null).map((m) => methodOfKind(m.kind)));
  if (facts.answers.length >= config.securityQuestions.numberToRegister) present.add('securityQuestions');
  const registered = available.filter((id) => present.has(id));
  const enough = registered.length >= required && registered.some((id) => id !== 'authenticatorApp');
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
