/**
 * The policy for new passwords (self-service reset, administrators setting a password).
 *
 * Follows NIST SP 800-63B and Entra's banned-password check: a length range counted in Unicode code
 * points (spaces and emoji are fine, passphrases welcome), no composition rules, and refusal of
 * - passwords on the shipped list of common and breached passwords (common-passwords.txt), also
 *   when only look-alike characters, case, separators or repeated characters differ, or when digits
 *   or symbols were merely added before or after a listed password ("Summer2024!", "Welkom01");
 * - trivial passwords: one character or a short block repeated, or a straight run such as
 *   "abcdefgh" or "987654321";
 * - passwords containing a term the administrator banned (company or product names...);
 * - passwords containing the user's username, display name or email name, or a part of them.
 *
 * Every refusal is a problem with a stable code; the page shows a message per code (see
 * {@link passwordProblemMessage}). Checks are synchronous and take a few microseconds; the
 * shipped list is read and indexed once, on first use (or at startup with {@link loadCommonPasswords}).
 */
import { readFileSync } from 'node:fs';
import type { PasswordPolicyConfig } from '../config/sspr-schema.ts';

export type PasswordProblem =
  | { code: 'too_short'; min: number }
  | { code: 'too_long'; max: number }
  | { code: 'mismatch' }
  | { code: 'common' }
  | { code: 'banned_term' }
  | { code: 'contains_name' }
  | { code: 'control_characters' }
  | { code: 'same_as_current' }
  // The directory's own policy refused it at writeback (src/directory/).
  | { code: 'directory_history' }
  | { code: 'directory_quality' }
  | { code: 'directory_too_young' }
  | { code: 'directory_refused' };

export type PasswordProblemCode = PasswordProblem['code'];

export interface PasswordContext {
  username: string;
  displayName?: string;
  email?: string | null;
}

/** Shortest comparison form (see below) that the affix and name rules act on. */
const MIN_BASE = 4;
/** Shortest comparison form of a whole username, display name or email name that is looked for. */
const MIN_WHOLE_NAME = 3;

// Control characters, lone surrogates (they cannot be encoded in UTF-8, so two different passwords
// would hash alike) and line/paragraph separators. Format characters (Cf) stay allowed: emoji
// sequences need the zero-width joiner.
const CONTROL = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}]/u;

// Look-alike substitutions undone before comparing. i, l, 1, ! and | are one class, written "l":
// "1" stands for either letter and upper-case I looks like lower-case l.
const LOOKALIKES: Record<string, string> = {
  '0': 'o',
  '1': 'l',
  i: 'l',
  '!': 'l',
  '|': 'l',
  '3': 'e',
  '4': 'a',
  '@': 'a',
  '5': 's',
  $: 's',
  '7': 't',
};
const LOOKALIKE_RE = /[01i!|34@5$7]/g;
// Left out of the comparison: separators and spaces, punctuation, format characters (zero-width
// space, joiners) and the ASCII symbols. Other symbols (emoji, €) are kept: a password of emoji is
// compared as emoji.
const IGNORED_RE = /[\p{Z}\p{P}\p{Cf}\p{Cc}\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]/gu;
const MARKS_RE = /\p{M}/gu;
const REPEATS_RE = /(.)\1+/gu;
// Digits, punctuation, symbols and separators added around a base word.
const AFFIX = '[\\p{N}\\p{P}\\p{S}\\p{Z}\\p{Cf}]+';
const TRAILING_RE = new RegExp(`${AFFIX}$`, 'u');
const LEADING_RE = new RegExp(`^${AFFIX}`, 'u');
const TRAILING_SYMBOLS_RE = /[\p{P}\p{S}\p{Z}\p{Cf}]+$/u;
const PERIODIC_RE = /^(.{1,4}?)\1+$/u;

/** Case, compatibility forms and accents folded: "ＰÄSS" → "pass". */
function fold(s: string): string {
  return s.normalize('NFKC').toLowerCase().normalize('NFKD').replace(MARKS_RE, '').normalize('NFC');
}

/** fold + look-alikes undone + separators, punctuation and ASCII symbols removed; repeats kept. */
function skeleton(s: string): string {
  return fold(s)
    .replace(LOOKALIKE_RE, (c) => LOOKALIKES[c] ?? c)
    .replace(IGNORED_RE, '');
}

function collapse(s: string): string {
  return s.replace(REPEATS_RE, '$1');
}

/**
 * The form in which passwords, list entries and banned terms are compared:
 * 1. Unicode NFKC, lower case, accents removed ("Ｐäss" → "pass");
 * 2. look-alike substitutions undone: 0→o, 3→e, 4→a, @→a, 5→s, $→s, 7→t; i, l, 1, ! and | all
 *    become "l" (one class, since "1" may stand for either letter);
 * 3. spaces, separators, punctuation, zero-width and other format characters and ASCII symbols
 *    removed ("p a s s-w o r d" → "password"); emoji and other non-ASCII symbols are kept;
 * 4. runs of one character collapsed to one ("passsword" → "pasword", "aaaaaaaa" → "a").
 *
 * The result is a comparison key, not meant for display: normaliseForComparison("P@ssw0rd") is
 * "pasword", the same as for "password".
 */
export function normaliseForComparison(s: string): string {
  return collapse(skeleton(s));
}

// ---------------------------------------------------------------------------------------------
// The shipped list

const LIST_URL = new URL('./common-passwords.txt', import.meta.url);
let commonSet: Set<string> | undefined;

/** Reads and indexes the shipped list (once); returns how many distinct comparison forms it holds. */
export function loadCommonPasswords(): number {
  return commonPasswords().size;
}

function commonPasswords(): Set<string> {
  if (commonSet) return commonSet;
  const set = new Set<string>();
  for (const line of readFileSync(LIST_URL, 'utf8').split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const key = normaliseForComparison(line);
    if (key.length > 0) set.add(key);
    // "monkey1" on the list means "monkey" is a base word people decorate.
    const base = line.replace(TRAILING_RE, '');
    if (base !== line && skeleton(base).length >= MIN_BASE) set.add(normaliseForComparison(base));
  }
  commonSet = set;
  return set;
}

/** Runs like "abcdefgh", "13579" excluded, or "9876543210" (digits may wrap 9→0). */
function isStraightRun(s: string): boolean {
  const points = [...fold(s).replace(IGNORED_RE, '')].map((c) => c.codePointAt(0) ?? 0);
  if (points.length < 3) return false;
  const step = (a: number, b: number) => {
    if (a === 0x39 && b === 0x30) return 1;
    if (a === 0x30 && b === 0x39) return -1;
    return b - a;
  };
  const first = step(points[0] ?? 0, points[1] ?? 0);
  if (first !== 1 && first !== -1) return false;
  for (let i = 2; i < points.length; i++) if (step(points[i - 1] ?? 0, points[i] ?? 0) !== first) return false;
  return true;
}

function isCommon(password: string): boolean {
  const key = normaliseForComparison(password);
  if (key.length < MIN_BASE || PERIODIC_RE.test(key) || isStraightRun(password)) return true;
  const list = commonPasswords();
  if (list.has(key)) return true;
  // Entra-style fuzzy match: a listed password with digits or symbols added around it.
  const folded = fold(password);
  const candidates = [
    folded.replace(TRAILING_SYMBOLS_RE, ''), // "welcome!" (a final "!" is not an "l")
    folded.replace(TRAILING_RE, ''), // "Summer2024!"
    folded.replace(LEADING_RE, ''), // "2024summer"
    folded.replace(LEADING_RE, '').replace(TRAILING_RE, ''), // "!!summer2024"
  ];
  for (const candidate of candidates) {
    if (candidate === folded || skeleton(candidate).length < MIN_BASE) continue;
    if (list.has(normaliseForComparison(candidate))) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Banned terms and names

const bannedCache = new WeakMap<readonly string[], string[]>();

function normalisedBannedTerms(terms: readonly string[]): string[] {
  let normalised = bannedCache.get(terms);
  if (!normalised) {
    // A term that normalises to almost nothing ("a.b") would ban everything; such terms are ignored.
    normalised = [...new Set(terms.map(normaliseForComparison))].filter((t) => t.length >= 3);
    bannedCache.set(terms, normalised);
  }
  return normalised;
}

function containsBannedTerm(password: string, terms: readonly string[]): boolean {
  if (terms.length === 0) return false;
  const key = normaliseForComparison(password);
  return normalisedBannedTerms(terms).some((term) => key.includes(term));
}

/**
 * What to look for from the user's names: each whole value (for an address or a username with "@",
 * the part before it) when its comparison form has at least 3 characters, and each part with a
 * letter and at least 4 characters. Parts are split at anything but letters and digits, at
 * lower→upper case changes and between letters and digits: "JanDeVries2025" → jan, de, vries, 2025.
 */
function nameTokens(context: PasswordContext): string[] {
  const tokens = new Set<string>();
  for (const raw of [context.username, context.displayName, context.email]) {
    if (!raw) continue;
    const value = raw.includes('@') ? raw.slice(0, raw.lastIndexOf('@')) : raw;
    const whole = skeleton(value);
    if (whole.length >= MIN_WHOLE_NAME) tokens.add(whole);
    const parts = value
      .normalize('NFKC')
      .replace(/(?<=\p{Ll})(?=\p{Lu})|(?<=\p{L})(?=\p{N})|(?<=\p{N})(?=\p{L})/gu, ' ')
      .split(/[^\p{L}\p{M}\p{N}]+/u);
    for (const part of parts) {
      if (!/\p{L}/u.test(part)) continue;
      const key = skeleton(part);
      if (key.length >= MIN_BASE) tokens.add(key);
    }
  }
  return [...tokens];
}

function containsName(password: string, context: PasswordContext): boolean {
  const tokens = nameTokens(context);
  if (tokens.length === 0) return false;
  const plain = skeleton(password);
  const collapsed = collapse(plain);
  return tokens.some((token) => {
    if (plain.includes(token)) return true;
    // "JJaanDeVries": compare without repeats too, unless that leaves too little ("anna" → "ana").
    const short = collapse(token);
    return short.length >= MIN_BASE && collapsed.includes(short);
  });
}

// ---------------------------------------------------------------------------------------------
// The checks

/**
 * Checks a new password and its confirmation. Returns every problem found (empty when the password
 * is acceptable), in a fixed order: control_characters, too_short / too_long, mismatch, common,
 * banned_term, contains_name. Content rules are skipped for a password over the maximum length.
 */
export function checkNewPassword(
  policy: PasswordPolicyConfig,
  password: string,
  confirmation: string,
  context: PasswordContext,
): PasswordProblem[] {
  const problems: PasswordProblem[] = [];
  if (CONTROL.test(password)) problems.push({ code: 'control_characters' });
  let length = 0;
  for (const _ of password) if (++length > policy.maxLength) break;
  if (length < policy.minLength) problems.push({ code: 'too_short', min: policy.minLength });
  const tooLong = length > policy.maxLength;
  if (tooLong) problems.push({ code: 'too_long', max: policy.maxLength });
  if (password !== confirmation) problems.push({ code: 'mismatch' });
  if (tooLong) return problems;
  if (policy.builtInList && isCommon(password)) problems.push({ code: 'common' });
  if (containsBannedTerm(password, policy.bannedTerms)) problems.push({ code: 'banned_term' });
  if (containsName(password, context)) problems.push({ code: 'contains_name' });
  return problems;
}

/**
 * checkNewPassword, then — only when nothing else is wrong, so no hash is computed for a password
 * that is refused anyway — whether the password is the current one (`same_as_current`).
 * `isCurrentPassword` is typically `(p) => hasher.verify(user.passwordHash, p)`.
 */
export async function checkNewPasswordAgainstCurrent(
  policy: PasswordPolicyConfig,
  password: string,
  confirmation: string,
  context: PasswordContext,
  isCurrentPassword: (password: string) => Promise<boolean>,
): Promise<PasswordProblem[]> {
  const problems = checkNewPassword(policy, password, confirmation, context);
  if (problems.length === 0 && (await isCurrentPassword(password))) problems.push({ code: 'same_as_current' });
  return problems;
}

/** The message id and variables that explain a problem: `password.problem.<code>`, with {min} / {max}. */
export function passwordProblemMessage(problem: PasswordProblem): { id: `password.problem.${PasswordProblemCode}`; vars?: Record<string, number> } {
  const id = `password.problem.${problem.code}` as const;
  if (problem.code === 'too_short') return { id, vars: { min: problem.min } };
  if (problem.code === 'too_long') return { id, vars: { max: problem.max } };
  return { id };
}
