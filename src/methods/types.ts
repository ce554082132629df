/** The one interface every recovery method implements, and what methods may use. */
import type { User } from '../store/users.ts';
import type { Store } from '../store/index.ts';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../clock.ts';
import type { Locale, Translate } from '../i18n/index.ts';
import type { Form } from '../security/form.ts';
import type { OneTimeCodes } from '../security/codes.ts';
import type { Throttle } from '../security/throttle.ts';
import type { PasswordHasher } from '../security/password.ts';
import type { MailDelivery, PhoneDelivery } from '../delivery/index.ts';
import type { MethodId } from './ids.ts';
import type { UserFacts } from '../sspr/policy.ts';

/** A page a method wants shown: a view under views/ and its data. */
export interface MethodPage {
  view: string;
  locals: Record<string, unknown>;
  /** Message id of a problem to show at the top of the form. */
  error?: string;
  errorVars?: Record<string, string | number>;
  status?: number;
}

export type StepOutcome = { kind: 'page'; page: MethodPage } | { kind: 'registered'; change: 'added' | 'changed'; previous?: string };

export interface MethodContext {
  user: User;
  locale: Locale;
  t: Translate;
  isAdmin: boolean;
}

export interface MethodDeps {
  config: () => Config;
  store: Store;
  clock: Clock;
  codes: OneTimeCodes;
  /** Counters shared by every instance, for the per-account limits on sent codes. */
  throttle: Throttle;
  hasher: PasswordHasher;
  mail: MailDelivery;
  phone: PhoneDelivery;
  /** Encrypts authenticator secrets at rest. */
  seal(plain: string): string;
  open(sealed: string): string;
}

export interface RecoveryMethod {
  readonly id: MethodId;
  /** False for the office phone: only an administrator sets it. */
  readonly userManaged: boolean;
  /** The first page of registration (or of a change). */
  begin(ctx: MethodContext): Promise<MethodPage>;
  /** Handles one posted step of registration. */
  step(ctx: MethodContext, step: string, form: Form): Promise<StepOutcome>;
  /** A masked, human-readable summary of what is registered, or undefined when nothing is. */
  summary(facts: UserFacts, t: Translate): string | undefined;
  /** Removes the user's registration of this method. */
  remove(user: User): Promise<boolean>;
}
