/** Rules for usernames, display names, group names and email addresses. */
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
  return value;
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
