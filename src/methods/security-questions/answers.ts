/**
 * Security answers: normalised so harmless differences (case, spacing, full-width letters) don't
 * matter, validated with problems a page can show next to each field, stored as argon2id hashes and
 * checked without revealing which answer was wrong.
 */
import { randomInt } from 'node:crypto';
import type { PasswordHasher } from '../../security/password.ts';
import type { StoredAnswer } from '../../store/sspr.ts';
import type { Question } from './questions.ts';

export const MIN_ANSWER_LENGTH = 3;
export const MAX_ANSWER_LENGTH = 40;

export interface AnswerPair {
  questionId: string;
  answer: string;
}

export type AnswerProblemCode =
  | 'wrong_number_of_answers'
  | 'unknown_question'
  | 'duplicate_question'
  | 'answer_too_short'
  | 'answer_too_long'
  | 'duplicate_answer'
  | 'control_characters';

export interface AnswerProblem {
  code: AnswerProblemCode;
  questionId?: string;
  /** Position of the answer in the submitted list; -1 for a problem of the whole form (wrong number of answers). */
  index: number;
}

/** NFKC, lower case (locale-independent), trimmed, inner whitespace collapsed to one space. */
export function normaliseAnswer(s: string): string {
  return s.normalize('NFKC').toLowerCase().normalize('NFKC').replace(/\s+/gu, ' ').trim();
}

/** Unicode code points, not UTF-16 units. */
const codePoints = (s: string): number => [...s].length;

/** C0/C1 controls (tab and line breaks are only whitespace) and bidirectional overrides: nothing a person types into an answer. */
const CONTROL = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

/**
 * Problems with answers submitted at registration, each with a stable code, the answer's index and
 * its question id, in the order of the fields. An empty list means the answers can be stored.
 */
export function validateAnswers(pairs: readonly AnswerPair[], catalogue: readonly Question[], numberToRegister: number): AnswerProblem[] {
  const problems: AnswerProblem[] = [];
  if (pairs.length !== numberToRegister) problems.push({ code: 'wrong_number_of_answers', index: -1 });
  const known = new Set(catalogue.map((q) => q.id));
  const questionsSeen = new Set<string>();
  const answersSeen = new Set<string>();
  pairs.forEach((pair, index) => {
    const questionId = typeof pair.questionId === 'string' ? pair.questionId : '';
    const raw = typeof pair.answer === 'string' ? pair.answer : '';
    const at = { questionId, index };
    if (!known.has(questionId)) problems.push({ code: 'unknown_question', ...at });
    else if (questionsSeen.has(questionId)) problems.push({ code: 'duplicate_question', ...at });
    questionsSeen.add(questionId);

    if (CONTROL.test(raw.replace(/[\t\n\r]/g, ' '))) {
      problems.push({ code: 'control_characters', ...at });
      return;
    }
    const answer = normaliseAnswer(raw);
    const length = codePoints(answer);
    if (length < MIN_ANSWER_LENGTH) problems.push({ code: 'answer_too_short', ...at });
    else if (length > MAX_ANSWER_LENGTH) problems.push({ code: 'answer_too_long', ...at });
    else if (answersSeen.has(answer)) problems.push({ code: 'duplicate_answer', ...at });
    answersSeen.add(answer);
  });
  return problems;
}

/** argon2id hashes of the normalised answers, computed concurrently (off the event loop). */
export async function hashAnswers(pairs: readonly AnswerPair[], hasher: PasswordHasher): Promise<{ questionId: string; answerHash: string }[]> {
  return Promise.all(pairs.map(async (p) => ({ questionId: p.questionId, answerHash: await hasher.hash(normaliseAnswer(p.answer)) })));
}

/**
 * True when every given answer matches the stored answer of its question. There must be at least
 * one, each question at most once. All answers are verified, even after a mismatch or for a
 * question the user never registered (against a dummy hash), so the time taken doesn't tell which
 * answer was wrong.
 */
export async function checkAnswers(stored: readonly StoredAnswer[], given: readonly AnswerPair[], hasher: PasswordHasher): Promise<boolean> {
  const byId = new Map(stored.map((a) => [a.questionId, a.answerHash]));
  const distinct = new Set(given.map((g) => g.questionId)).size === given.length;
  const results = await Promise.all(
    given.map((g) => {
      const answer = normaliseAnswer(typeof g.answer === 'string' ? g.answer : '');
      // An answer far too long for any registered one still costs the same as a real check.
      const hash = codePoints(answer) <= MAX_ANSWER_LENGTH * 4 ? byId.get(g.questionId) : undefined;
      return hasher.verify(hash, answer);
    }),
  );
  return given.length > 0 && distinct && results.every(Boolean);
}

/**
 * `count` distinct question ids drawn at random from the registered ones (partial Fisher–Yates
 * shuffle). `random(n)` must return a uniform integer in [0, n); by default crypto.randomInt.
 */
export function drawQuestions(registeredIds: readonly string[], count: number, random: (max: number) => number = (max) => randomInt(max)): string[] {
  const ids = [...new Set(registeredIds)];
  const take = Math.max(0, Math.min(count, ids.length));
  for (let i = 0; i < take; i++) {
    const j = i + random(ids.length - i);
    const a = ids[i]!;
    ids[i] = ids[j]!;
    ids[j] = a;
  }
  return ids.slice(0, take);
}
