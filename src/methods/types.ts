/**
 * The interfaces every recovery method implements (its facts, its registration side, its reset
 * challenge), and what methods may use.
 */
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
import type { SsprConfig } from '../config/sspr-schema.ts';
import type { StoredMethodKind } from '../store/sspr.ts';

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
  /** The page's flow (the interaction, the security-info session): a passkey challenge is bound to it. */
  flow?: string;
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
  /** The first page of registration (or of a change). */
  begin(ctx: MethodContext): Promise<MethodPage>;
  /** Handles one posted step of registration. */
  step(ctx: MethodContext, step: string, form: Form): Promise<StepOutcome>;
  /** A masked, human-readable summary of what is registered, or undefined when nothing is. */
  summary(facts: UserFacts, t: Translate): string | undefined;
  /** Removes the user's registration of this method. */
  remove(user: User): Promise<boolean>;
}

/**
 * What the policy, the configuration checks, the CLI and the reports need to know of a method: plain
 * data, so the configuration schema can read it without loading any method's code.
 */
export interface MethodFacts {
  readonly id: string;
  /** Its rows in sspr_methods; none for a method with a table of its own (security questions). */
  readonly storedKind?: StoredMethodKind;
  /** How configuration messages name it ("the authenticator app"). */
  readonly noun: string;
  /** Whether it is enough on its own (the authenticator app never is). */
  readonly countsAlone: boolean;
  /** Whether administrators may use it (security questions: never). */
  readonly allowedForAdmins: boolean;
  /** Whether its stored value is a secret that no listing shows (the authenticator key). */
  readonly secretValue: boolean;
  /** Whether a user may register more than one of it. */
  readonly severalPerUser: boolean;
  /** False where only an administrator sets it (the office phone). */
  readonly userManaged: boolean;
  /**
   * Where it can be a second factor at sign-in: its RFC 8176 `amr` value (a phone sends `tel` by a
   * call instead; a passkey `swk` when it is synced) and its strength, the strongest being offered
   * first. None for security questions.
   */
  readonly secondFactor?: { readonly amr: 'otp' | 'sms' | 'tel' | 'hwk'; readonly strength: number };
  /** Whether `sspr.methods` offers it. */
  offered(methods: SsprConfig['methods']): boolean;
  /** Whether the user has it registered; by default a verified row of `storedKind`. */
  registered?(facts: UserFacts, config: SsprConfig): boolean;
}

export interface ChallengeContext {
  user: User;
  facts: UserFacts;
  locale: Locale;
  t: Translate;
  /** What this challenge saved in the flow so far (the stage, the questions drawn...). */
  saved: Record<string, unknown>;
  /** The flow's reference (not its id): codes sent in this flow are bound to it. */
  flow: string;
  /** Counts one costly action against the account's SSPR limits; false when a limit is exceeded. */
  spend(kind: 'email' | 'phone' | 'questions'): Promise<boolean>;
}

export interface ChallengePage {
  view: string;
  locals: Record<string, unknown>;
  error?: string;
  errorVars?: Record<string, string | number>;
}

/** `failed` counts toward the flow's limit of wrong answers for this method. */
export type ChallengeOutcome =
  | { kind: 'page'; page: ChallengePage; saved: Record<string, unknown>; failed?: boolean }
  | { kind: 'proven' }
  /** An SSPR limit was exceeded: the account is blocked from SSPR for a while. */
  | { kind: 'blocked' };

/** The reset side of a method: prove it at "Can't access your account?". */
export interface ResetChallenge {
  readonly id: MethodId;
  /** A short description for the method list, e.g. "Email a code to j•••@example.org". */
  label(facts: UserFacts, t: Translate): string;
  start(ctx: ChallengeContext): Promise<ChallengeOutcome>;
  step(ctx: ChallengeContext, form: Form): Promise<ChallengeOutcome>;
}

/** A method's code: its registration side and its reset challenge, each made from the shared deps. */
export interface MethodImplementation {
  registration(deps: MethodDeps): RecoveryMethod;
  challenge(deps: MethodDeps): ResetChallenge;
}
