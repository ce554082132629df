import test from 'ava';
import { ConfigError, parseConfig } from '../src/config/load.ts';
import { createPasswordHasher } from '../src/security/password.ts';
import type { StoredAnswer } from '../src/store/sspr.ts';
import {
  predefinedQuestions,
  questionCatalogue,
  questionText,
  customQuestionId,
  type Question,
} from '../src/methods/security-questions/questions.ts';
import {
  normaliseAnswer,
  validateAnswers,
  hashAnswers,
  checkAnswers,
  drawQuestions,
  type AnswerProblem,
} from '../src/methods/security-questions/answers.ts';
import { testArgon2 } from './helpers/idp.ts';

const hasher = createPasswordHasher(() => testArgon2);

/** The securityQuestions section as the schema produces it. */
function settings(input: Record<string, unknown>) {
  return parseConfig({ database: { client: 'sqlite', filename: ':memory:' }, sspr: { securityQuestions: input } }).sspr.securityQuestions;
}

// Catalogue

test('predefined questions: 12–15, kebab-case ids, unique, English and Dutch texts', (t) => {
  t.true(predefinedQuestions.length >= 12 && predefinedQuestions.length <= 15);
  const ids = new Set<string>();
  for (const q of predefinedQuestions) {
    t.regex(q.id, /^[a-z0-9]+(-[a-z0-9]+)*$/);
    t.true(q.id.length <= 64);
    t.false(ids.has(q.id), `${q.id} is unique`);
    ids.add(q.id);
    t.regex(q.en, /^[A-Z].{10,}\?$/, q.id);
    t.regex(q.nl, /^[A-Z].{10,}\?$/, q.id);
    t.not(q.en, q.nl, `${q.id} is translated`);
  }
  t.true(Object.isFrozen(predefinedQuestions));
});

test('catalogue: predefined then custom; ids derived from text, given ids kept, Dutch falls back', (t) => {
  const catalogue = questionCatalogue(
    settings({
      custom: [
        'What was the name of your first employee badge?',
        { id: 'office-plant', en: 'What did you call the office plant?', nl: 'Hoe noemde je de kantoorplant?' },
        { en: 'Which desk did you have first?' },
      ],
    }),
  );
  t.is(catalogue.length, predefinedQuestions.length + 3);
  t.deepEqual(catalogue.slice(0, predefinedQuestions.length), predefinedQuestions.map((q) => ({ ...q })));
  const [a, b, c] = catalogue.slice(predefinedQuestions.length) as [Question, Question, Question];
  t.regex(a.id, /^custom-[0-9a-f]{12}$/);
  t.is(a.id, customQuestionId('What was the name of your first employee badge?'));
  t.is(a.id, customQuestionId('  What was the name of your first employee badge?  '), 'stable across surrounding spaces');
  t.is(a.nl, a.en);
  t.deepEqual(b, { id: 'office-plant', en: 'What did you call the office plant?', nl: 'Hoe noemde je de kantoorplant?' });
  t.deepEqual(c, { id: customQuestionId('Which desk did you have first?'), en: 'Which desk did you have first?', nl: 'Which desk did you have first?' });
  t.not(a.id, c.id);
});

test('catalogue: predefined can be switched off', (t) => {
  const catalogue = questionCatalogue(
    settings({ predefined: false, custom: [{ id: 'same', en: 'The first question text?' }, 'A question given once?', 'And one more question?'] }),
  );
  t.deepEqual(
    catalogue.map((q) => q.en),
    ['The first question text?', 'A question given once?', 'And one more question?'],
  );
});

test('a question offered twice is a configuration error naming both, never silently dropped', (t) => {
  const problems = (input: Record<string, unknown>) => {
    const error = t.throws(() => settings(input), { instanceOf: ConfigError });
    return error.problems;
  };
  t.deepEqual(problems({ custom: [{ id: 'same', en: 'The first question text?' }, { id: 'same', en: 'The second question text?' }] }), [
    { path: 'sspr.securityQuestions.custom.1', message: 'duplicates sspr.securityQuestions.custom.0 (same id "same")' },
  ]);
  t.deepEqual(problems({ custom: ['A question given twice?', { id: 'other-id', en: 'a question  given TWICE?' }] }), [
    { path: 'sspr.securityQuestions.custom.1', message: 'duplicates sspr.securityQuestions.custom.0 (same text)' },
  ]);
  t.deepEqual(problems({ custom: [{ id: 'first-school', en: 'Not the shipped text?' }] }), [
    { path: 'sspr.securityQuestions.custom.0', message: 'duplicates the predefined question "first-school" (same id "first-school")' },
  ]);
  t.deepEqual(problems({ custom: [predefinedQuestions[1]!.en] }), [
    { path: 'sspr.securityQuestions.custom.0', message: `duplicates the predefined question "${predefinedQuestions[1]!.id}" (same text)` },
  ]);
  // With the shipped questions switched off, their ids and texts are free to use.
  t.is(questionCatalogue(settings({ predefined: false, custom: [{ id: 'first-school', en: 'Not the shipped text?' }] }))[0]!.en, 'Not the shipped text?');
});

test('questionText picks the language', (t) => {
  const q = predefinedQuestions.find((x) => x.id === 'first-school')!;
  t.is(questionText(q, 'en'), q.en);
  t.is(questionText(q, 'nl'), q.nl);
});

// Normalisation

test('normaliseAnswer: case, whitespace, NFKC', (t) => {
  t.is(normaliseAnswer('  De  Regenboog\t School \n'), 'de regenboog school');
  t.is(normaliseAnswer('ＡＭＳＴＥＲＤＡＭ'), 'amsterdam', 'full-width letters');
  t.is(normaliseAnswer('ﬁat ﬁesta'), 'fiat fiesta', 'ligatures');
  t.is(normaliseAnswer('Zoë'), normaliseAnswer('Zoe\u0308'), 'composed and decomposed forms');
  t.is(normaliseAnswer('İSTANBUL'), normaliseAnswer('İstanbul'), 'locale-independent lower case');
  t.is(normaliseAnswer('\u00a0Mr.\u2003Jansen\u3000'), 'mr. jansen', 'any Unicode space');
  t.is(normaliseAnswer('MÜLLER'), 'müller');
});

// Validation

const catalogue = questionCatalogue(settings({}));
const [q1, q2, q3, q4] = predefinedQuestions.map((q) => q.id) as [string, string, string, string];
const codes = (problems: AnswerProblem[]) => problems.map((p) => [p.code, p.index, p.questionId ?? null]);

test('valid answers: no problems', (t) => {
  t.deepEqual(
    validateAnswers(
      [
        { questionId: q1, answer: 'De Regenboog' },
        { questionId: q2, answer: 'Sanne' },
        { questionId: q3, answer: 'Bakker' },
      ],
      catalogue,
      3,
    ),
    [],
  );
  t.deepEqual(validateAnswers([{ questionId: q1, answer: 'abc' }, { questionId: q2, answer: 'x'.repeat(40) }, { questionId: q3, answer: '😀😀😀' }], catalogue, 3), []);
});

/** [answers as [question id, answer], how many are asked for, the problems as [code, index, question id]]. */
const problemCases: [[string, string][], number, ReturnType<typeof codes>][] = [
  [[[q1, 'Regenboog']], 3, [['wrong_number_of_answers', -1, null]]],
  [
    [['no-such-question', 'Regenboog'], [q1, 'Sanne'], [q1, 'Bakker']],
    3,
    [['unknown_question', 0, 'no-such-question'], ['duplicate_question', 2, q1]],
  ],
  [
    [[q1, ' ab '], [q2, 'y'.repeat(41)], [q3, ''], [q4, 'a  \u00a0 b']],
    4,
    [['answer_too_short', 0, q1], ['answer_too_long', 1, q2], ['answer_too_short', 2, q3]],
  ],
  [
    [[q1, 'Amsterdam'], [q2, '  AMSTERDAM '], [q3, 'ＡＭＳＴＥＲＤＡＭ']],
    3,
    [['duplicate_answer', 1, q2], ['duplicate_answer', 2, q3]],
  ],
  [
    [[q1, 'Regen\u0000boog'], [q2, 'San\u202Ene'], [q3, 'Bak\u0085ker']],
    3,
    [['control_characters', 0, q1], ['control_characters', 1, q2], ['control_characters', 2, q3]],
  ],
];

test('every validation problem, with index and question id', (t) => {
  for (const [answers, count, expected] of problemCases) {
    t.deepEqual(codes(validateAnswers(answers.map(([questionId, answer]) => ({ questionId, answer })), catalogue, count)), expected);
  }
  t.deepEqual(validateAnswers([{ questionId: q1, answer: 'Regen\tboog' }, { questionId: q2, answer: 'Sanne\n' }, { questionId: q3, answer: 'Bakker' }], catalogue, 3), [], 'tabs and line breaks are whitespace');
});

test('answer length counts code points of the normalised answer', (t) => {
  // 40 emoji are 80 UTF-16 units but 40 code points.
  t.deepEqual(validateAnswers([{ questionId: q1, answer: '🌷'.repeat(40) }, { questionId: q2, answer: 'Sanne' }, { questionId: q3, answer: 'Bakker' }], catalogue, 3), []);
  t.deepEqual(codes(validateAnswers([{ questionId: q1, answer: '🌷'.repeat(41) }, { questionId: q2, answer: 'Sanne' }, { questionId: q3, answer: 'Bakker' }], catalogue, 3)), [['answer_too_long', 0, q1]]);
  // Two letters with spaces around them normalise to two code points.
  t.deepEqual(codes(validateAnswers([{ questionId: q1, answer: '   a   b' }, { questionId: q2, answer: 'Sanne' }, { questionId: q3, answer: 'Bakker' }], catalogue, 3)), []);
  t.deepEqual(codes(validateAnswers([{ questionId: q1, answer: '   ab   ' }, { questionId: q2, answer: 'Sanne' }, { questionId: q3, answer: 'Bakker' }], catalogue, 3)), [['answer_too_short', 0, q1]]);
});

// Hashing and checking

test('hash, then check: other case and spacing pass; one wrong answer fails', async (t) => {
  const pairs = [
    { questionId: q1, answer: 'De Regenboog' },
    { questionId: q2, answer: 'Sanne' },
    { questionId: q3, answer: 'Bakker' },
  ];
  const hashed = await hashAnswers(pairs, hasher);
  t.deepEqual(
    hashed.map((h) => h.questionId),
    [q1, q2, q3],
  );
  for (const h of hashed) {
    t.true(h.answerHash.startsWith('$argon2id$'));
    t.false(h.answerHash.toLowerCase().includes('regenboog'));
  }
  const stored: StoredAnswer[] = hashed.map((h) => ({ ...h, createdAt: 0 }));

  t.true(await checkAnswers(stored, [{ questionId: q3, answer: ' BAKKER' }, { questionId: q1, answer: 'de   regenboog ' }], hasher));
  t.true(await checkAnswers(stored, [{ questionId: q2, answer: 'ＳＡＮＮＥ' }], hasher));
  t.false(await checkAnswers(stored, [{ questionId: q1, answer: 'De Regenboog' }, { questionId: q2, answer: 'Sandra' }], hasher));
  t.false(await checkAnswers(stored, [{ questionId: q1, answer: 'Bakker' }, { questionId: q3, answer: 'De Regenboog' }], hasher), 'answers of other questions');
  t.false(await checkAnswers(stored, [{ questionId: q4, answer: 'anything' }], hasher), 'a question not registered');
  t.false(await checkAnswers(stored, [], hasher), 'no answers at all');
  t.false(await checkAnswers(stored, [{ questionId: q1, answer: 'De Regenboog' }, { questionId: q1, answer: 'De Regenboog' }], hasher), 'the same question twice');
  t.false(await checkAnswers(stored, [{ questionId: q1, answer: 'x'.repeat(10_000) }], hasher), 'absurdly long');
});

test('checkAnswers verifies every answer even after a mismatch', async (t) => {
  const stored: StoredAnswer[] = (await hashAnswers([{ questionId: q1, answer: 'one' }, { questionId: q2, answer: 'two' }, { questionId: q3, answer: 'three' }], hasher)).map((h) => ({ ...h, createdAt: 0 }));
  const calls: (string | null | undefined)[] = [];
  const counting = { ...hasher, verify: (hash: string | null | undefined, answer: string) => (calls.push(hash), hasher.verify(hash, answer)) };
  t.false(await checkAnswers(stored, [{ questionId: q1, answer: 'wrong' }, { questionId: q2, answer: 'two' }, { questionId: 'unknown', answer: 'x' }], counting));
  t.is(calls.length, 3);
  t.is(calls[2], undefined, 'an unknown question is verified against the dummy');
});

// Drawing

test('drawQuestions: distinct ids from those registered, every subset reachable', (t) => {
  const registered = ['a', 'b', 'c', 'd', 'e'];
  const seen = new Map<string, number>();
  const draws = 3000;
  for (let i = 0; i < draws; i++) {
    const drawn = drawQuestions(registered, 3);
    t.is(drawn.length, 3);
    t.is(new Set(drawn).size, 3, 'no duplicates');
    for (const id of drawn) t.true(registered.includes(id));
    const key = [...drawn].sort().join('');
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  t.is(seen.size, 10, 'all C(5,3) subsets occur');
  for (const [subset, n] of seen) t.true(n > draws / 10 / 2, `subset ${subset} drawn ${n} times`);
  t.deepEqual(registered, ['a', 'b', 'c', 'd', 'e'], 'input untouched');
});

test('drawQuestions: order varies, edge cases, injected randomness', (t) => {
  const orders = new Set(Array.from({ length: 500 }, () => drawQuestions(['a', 'b', 'c'], 3).join('')));
  t.is(orders.size, 6, 'all orders of the full set occur');
  t.deepEqual(drawQuestions(['a', 'b'], 5).sort(), ['a', 'b'], 'never more than registered');
  t.deepEqual(drawQuestions([], 3), []);
  t.deepEqual(drawQuestions(['a', 'b', 'c'], 0), []);
  t.deepEqual(drawQuestions(['a', 'a', 'b'], 3).sort(), ['a', 'b'], 'duplicate registrations collapse');
  t.deepEqual(drawQuestions(['a', 'b', 'c', 'd'], 2, () => 0), ['a', 'b']);
  t.deepEqual(drawQuestions(['a', 'b', 'c', 'd'], 2, (max) => max - 1), ['d', 'a']);
});
