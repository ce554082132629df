/** Rules for usernames, display names, group names and email addresses. */
import unhomoglyph from 'unhomoglyph';
import { AppError } from '../errors.ts';

// Letters, marks, digits and a few separators; no spaces or control characters.
const USERNAME = /^[\p{L}\p{M}\p{N}._@+'-]{1,128}$/u;
const EMAIL = /^[^\s@\p{C}]{1,64}@[^\s@\p{C}]{1,255}\.[^\s@\p{C}]{2,63}$/u;
const CONTROL = /\p{Cc}|\p{Cf}|\p{Cs}|\p{Co}|\p{Cn}/u;

type InvalidField = 'username' | 'password' | 'email' | 'display_name' | 'group' | 'phone';

export class InvalidInputError extends AppError {
  constructor(field: InvalidField, problem: string) {
    super(`invalid_${field}`, `${field} ${problem}`);
  }
}

/** The canonical form of a username as typed (NFKC, trimmed); throws when it can't be a username. */
export function normaliseUsername(input: string): string {
  const value = input.normalize('NFKC').trim();
  if (!USERNAME.test(value)) {
    throw new InvalidInputError('username', "must be 1–128 letters, digits or . _ @ + ' - (no spaces or control characters)");
  }
  const scripts = mixedScripts(value);
  if (scripts) {
    throw new InvalidInputError('username', `mixes scripts (${scripts.join(', ')}): use one script, so the name can't pass for another one`);
  }
  return value;
}

// Unicode scripts by ISO 15924 code (every one JavaScript's \p{Script=…} knows but Common and Inherited).
const SCRIPTS = 'Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Bhks Bopo Brah Brai Bugi Buhd Cakm Cans Cari Cham Cher Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp Elba Elym Ethi Geor Glag Gong Gonm Goth Gran Grek Gujr Guru Hang Hani Hano Hatr Hebr Hira Hluw Hmng Hmnp Hung Ital Java Kali Kana Khar Khmr Khoj Kits Knda Kthi Lana Laoo Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand Mani Marc Medf Mend Merc Mero Mlym Modi Mong Mroo Mtei Mult Mymr Nand Narb Nbat Newa Nkoo Nshu Ogam Olck Orkh Orya Osge Osma Ougr Palm Pauc Perm Phag Phli Phlp Phnx Plrd Prti Rjng Rohg Runr Samr Sarb Saur Sgnw Shaw Shrd Sidd Sind Sinh Sogd Sogo Sora Soyo Sund Sylo Syrc Tagb Takr Tale Talu Taml Tang Tavt Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Toto Ugar Vaii Vith Wara Wcho Xpeo Xsux Yezi Yiii Zanb'
  .split(' ')
  .map((code) => [code, new RegExp(`^\\p{Script=${code}}$`, 'u')] as const);
const SCRIPT_NAMES: Record<string, string> = { Latn: 'Latin', Cyrl: 'Cyrillic', Grek: 'Greek', Armn: 'Armenian', Hebr: 'Hebrew', Arab: 'Arabic', Hani: 'Han', Hira: 'Hiragana', Kana: 'Katakana', Hang: 'Hangul', Bopo: 'Bopomofo', Cher: 'Cherokee', Geor: 'Georgian' };
// Mixes that are one writing system (UTS #39 "highly restrictive"): Japanese, Chinese with Bopomofo, Korean.
const ONE_WRITING_SYSTEM = [new Set(['Latn', 'Hani', 'Hira', 'Kana']), new Set(['Latn', 'Hani', 'Bopo']), new Set(['Latn', 'Hani', 'Hang'])];

/** The scripts of a name's letters when they mix (e.g. Latin + Cyrillic), else undefined. Digits and marks belong to none. */
export function mixedScripts(name: string): string[] | undefined {
  if (/^[\x00-\x7f]*$/.test(name)) return undefined;
  const found = new Set<string>();
  for (const ch of name) {
    if (ch < '\x80' && !/[A-Za-z]/.test(ch)) continue;
    const script = SCRIPTS.find(([, re]) => re.test(ch))?.[0];
    if (script) found.add(script);
  }
  if (found.size <= 1 || ONE_WRITING_SYSTEM.some((allowed) => [...found].every((s) => allowed.has(s)))) return undefined;
  return [...found].map((s) => SCRIPT_NAMES[s] ?? s);
}

/**
 * The confusable skeleton of a username (Unicode TR39: NFD, each character replaced by its
 * prototype from confusables.txt, NFD again), taken before and after lower-casing, so that names
 * which look alike (`paypal` with a Cyrillic `а`, `BiII` for `Bill`, `rnary` for `mary`) share one.
 */
export function usernameSkeleton(username: string): string {
  const skeleton = (s: string) => unhomoglyph(s.normalize('NFD')).normalize('NFD');
  return skeleton(skeleton(username.normalize('NFKC').trim()).toLowerCase()).toLowerCase();
}

/** The case-insensitive key used for uniqueness and lookup. */
export function usernameKey(username: string): string {
  return username.normalize('NFKC').trim().toLowerCase();
}

/** Like normaliseUsername, but returns undefined instead of throwing: for sign-in, where bad input is just "wrong". */
export function tryUsernameKey(input: string): string | undefined {
  const value = input.normalize('NFKC').trim();
  return USERNAME.test(value) ? value.toLowerCase() : undefined;
}

export function normaliseDisplayName(input: string): string {
  const value = input.normalize('NFKC').trim().replace(/\s+/g, ' ');
  if (value.length > 256 || CONTROL.test(value)) throw new InvalidInputError('display_name', 'must be at most 256 characters without control characters');
  return value;
}

export function normaliseEmail(input: string): string {
  const value = input.normalize('NFKC').trim();
  if (value.length > 320 || !EMAIL.test(value)) throw new InvalidInputError('email', 'is not a valid email address');
  const at = value.lastIndexOf('@');
  return value.slice(0, at) + '@' + value.slice(at + 1).toLowerCase();
}

export function normaliseGroupName(input: string): { name: string; key: string } {
  const name = input.normalize('NFKC').trim();
  if (name.length < 1 || name.length > 256 || CONTROL.test(name)) throw new InvalidInputError('group', 'must be 1–256 characters without control characters');
  return { name, key: name.toLowerCase() };
}

/** Minimal password acceptance for administrators setting a password (the full policy comes with SSPR). */
export function checkPasswordShape(password: string): void {
  const length = [...password].length;
  if (length < 8 || length > 256) throw new InvalidInputError('password', 'must be 8–256 characters');
  if (/\p{Cc}/u.test(password)) throw new InvalidInputError('password', 'must not contain control characters');
}
