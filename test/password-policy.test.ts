import test from 'ava';
import { passwordPolicySchema, type PasswordPolicyConfig } from '../src/config/sspr-schema.ts';
import {
  checkNewPassword,
  checkNewPasswordAgainstCurrent,
  loadCommonPasswords,
  normaliseForComparison,
  passwordProblemMessage,
  type PasswordContext,
  type PasswordProblemCode,
} from '../src/security/password-policy.ts';

const policy = passwordPolicySchema.parse({});
const withTerms = (bannedTerms: string[], extra: Partial<PasswordPolicyConfig> = {}) => passwordPolicySchema.parse({ bannedTerms, ...extra });
const jan: PasswordContext = { username: 'jan.devries', displayName: 'Jan de Vries', email: 'j.devries@example.org' };
const nobody: PasswordContext = { username: 'u7' };

/** The problem codes for a password typed twice alike. */
const codes = (password: string, context: PasswordContext = nobody, p: PasswordPolicyConfig = policy): PasswordProblemCode[] =>
  checkNewPassword(p, password, password, context).map((problem) => problem.code);

const GOOD = 'violet tractor umbrella 83 quietly';

test('the shipped list loads, with thousands of distinct entries', (t) => {
  const size = loadCommonPasswords();
  t.true(size > 5000 && size < 20000, `size ${size}`);
});

test('a long random passphrase is accepted', (t) => {
  t.deepEqual(checkNewPassword(policy, GOOD, GOOD, jan), []);
  t.deepEqual(codes('Gx7#qLm2!vR9wKz', jan), []);
  t.deepEqual(codes('correct horse battery staple', jan), []);
});

test('length: 7 is too short, 8 is enough (default policy)', (t) => {
  t.deepEqual(checkNewPassword(policy, 'kx7Qm2v', 'kx7Qm2v', nobody), [{ code: 'too_short', min: 8 }]);
  t.deepEqual(codes('kx7Qm2vR'), []);
});

test('length: 256 is allowed, 257 is too long (default policy)', (t) => {
  const words = ['violet', 'tractor', 'umbrella', 'quietly', 'harbour', 'cinnamon', 'glacier', 'pylon'];
  let long = '';
  for (let i = 0; long.length < 300; i++) long += `${words[i % words.length]}${i} `;
  const at256 = long.slice(0, 256);
  t.is([...at256].length, 256);
  t.deepEqual(codes(at256), []);
  t.deepEqual(checkNewPassword(policy, long.slice(0, 257), long.slice(0, 257), nobody), [{ code: 'too_long', max: 256 }]);
});

test('length counts code points: emoji count once each', (t) => {
  const seven = '🦊🐙🌵🚲🎻🧀🪁'; // 14 UTF-16 units, 7 code points
  t.is(seven.length, 14);
  t.deepEqual(checkNewPassword(policy, seven, seven, nobody), [{ code: 'too_short', min: 8 }]);
  t.deepEqual(codes(seven + '🦉'), []);
  const max = withTerms([], { minLength: 8, maxLength: 10 });
  t.deepEqual(codes('🦊🐙🌵🚲🎻🧀🪁🦉🍄🛶', nobody, max), []);
  t.deepEqual(codes('🦊🐙🌵🚲🎻🧀🪁🦉🍄🛶🎈', nobody, max), ['too_long']);
});

test('the policy limits are the configured ones', (t) => {
  const strict = withTerms([], { minLength: 15, maxLength: 64 });
  t.deepEqual(checkNewPassword(strict, 'violet tractor', 'violet tractor', nobody), [{ code: 'too_short', min: 15 }]);
  t.deepEqual(codes('violet tractor!', nobody, strict), []);
});

test('mismatch: the two entries differ', (t) => {
  t.deepEqual(checkNewPassword(policy, GOOD, GOOD + ' ', jan), [{ code: 'mismatch' }]);
  t.deepEqual(checkNewPassword(policy, GOOD, '', jan), [{ code: 'mismatch' }]);
});

test('control characters are refused; spaces, tabs excepted, and emoji joiners are not', (t) => {
  t.deepEqual(codes('violet\u0000tractor umbrella'), ['control_characters']);
  t.deepEqual(codes('violet\ttractor umbrella'), ['control_characters']);
  t.deepEqual(codes('violet tractor\numbrella'), ['control_characters']);
  t.deepEqual(codes('violet tractor\u007fumbrella'), ['control_characters']);
  t.deepEqual(codes('violet tractor\u2028umbrella'), ['control_characters']);
  t.deepEqual(codes('violet tractor \ud800 umbrella'), ['control_characters'], 'lone surrogate');
  t.deepEqual(codes('  violet  tractor  '), []);
  t.deepEqual(codes('👩‍👩‍👧‍👦👨‍👩‍👧🏳️‍🌈'), [], 'ZWJ sequences and variation selectors');
});

test('common: on the shipped list, also with case, look-alikes and separators changed', (t) => {
  for (const password of ['password', 'Password', 'PASSWORD', 'P@ssw0rd', 'p4$$w0rd', 'p a s s w o r d', 'pass-word', 'passsssword', 'iloveyou', '!LOVEYOU', '1qaz2wsx', 'qwertyuiop', 'football', 'sunshine', 'princess', 'trustno1', 'letmein!!', 'ｐａｓｓｗｏｒｄ']) {
    t.true(codes(password).includes('common'), password);
  }
});

test('common: a listed password with digits or symbols added (Entra-style fuzzy match)', (t) => {
  for (const password of ['Summer2024!', 'Welkom01', 'welkom2025', 'Wachtwoord1!', 'Zomer2024', 'Winter2023?', '2024summer', '!!Dragon99', 'Monkey-1234', 'welcome!', 'Juli2024!', 'P@ssw0rd123']) {
    t.deepEqual(codes(password), ['common'], password);
  }
});

test('common: trivial passwords (one character, a short block repeated, a straight run)', (t) => {
  for (const password of ['aaaaaaaa', '11111111111111', '........', '        ', 'abababab', 'passpasspass', '🐶🐶🐶🐶🐶🐶🐶🐶', 'abcdefghij', '1234567890123', '987654321', 'zyxwvutsrq']) {
    t.true(codes(password).includes('common'), password);
  }
});

test('common: not refused when the built-in list is off (trivial passwords included)', (t) => {
  const off = withTerms([], { builtInList: false });
  t.deepEqual(codes('P@ssw0rd', nobody, off), []);
  t.deepEqual(codes('Summer2024!', nobody, off), []);
  t.deepEqual(codes('aaaaaaaa', nobody, off), []);
});

test('common: a listed word inside a longer passphrase is fine', (t) => {
  t.deepEqual(codes('password is my favourite tractor'), []);
  t.deepEqual(codes('summer in the orchard 2024'), []);
  t.deepEqual(codes('dragon-kettle-marble'), []);
});

test('common: also reported next to too_short', (t) => {
  t.deepEqual(codes('dragon'), ['too_short', 'common']);
});

test('banned terms: contained, after undoing leetspeak; the term is not echoed', (t) => {
  const contoso = withTerms(['contoso']);
  t.deepEqual(checkNewPassword(contoso, 'C0nt0s0', 'C0nt0s0', nobody), [{ code: 'too_short', min: 8 }, { code: 'banned_term' }]);
  t.deepEqual(codes('C0nt0s0-rocks-2025', nobody, contoso), ['banned_term']);
  t.deepEqual(codes('I work at CONTOSO', nobody, contoso), ['banned_term']);
  t.deepEqual(codes('my c o n t o s o desk', nobody, contoso), ['banned_term']);
  t.deepEqual(codes('Contossso rules!', nobody, contoso), ['banned_term']);
  t.deepEqual(codes(GOOD, nobody, contoso), []);
  const problem = checkNewPassword(contoso, 'C0nt0s0-rocks-2025', 'C0nt0s0-rocks-2025', nobody)[0];
  t.deepEqual(problem, { code: 'banned_term' });
  t.false(JSON.stringify(problem).toLowerCase().includes('contoso'));
});

test('banned terms: written with capitals and separators by the administrator', (t) => {
  const terms = withTerms(['Fabrikam Ltd', 'Tailspin-Toys']);
  t.deepEqual(codes('we love tailspintoys!', nobody, terms), ['banned_term']);
  t.deepEqual(codes('fabrikam ltd forever', nobody, terms), ['banned_term']);
  t.deepEqual(codes('fabrikam forever', nobody, terms), []);
});

test('banned terms that normalise to almost nothing are ignored', (t) => {
  t.deepEqual(codes(GOOD, nobody, withTerms(['a.b', '---'])), []);
});

test('contains_name: the username, even with case and separators changed', (t) => {
  t.deepEqual(codes('JanDeVries2025', jan), ['contains_name']);
  t.deepEqual(codes('jan.devries rocks', jan), ['contains_name']);
  t.deepEqual(codes('J4n-D3-Vr1es!!', jan), ['contains_name']);
  t.deepEqual(codes('hello jjaann devvries', jan), ['contains_name']);
});

test('contains_name: display name and its parts of at least four characters', (t) => {
  const anna = { username: 'ajansen', displayName: 'Anna-Maria van Bergen' };
  t.deepEqual(codes('berGEN is my town', anna), ['contains_name'], 'last name');
  t.deepEqual(codes('maria sells seashells', anna), ['contains_name'], 'second part of a first name');
  t.deepEqual(codes('annamaria van b.', anna), ['contains_name'], 'first name whole');
  t.deepEqual(codes('a caravan at sea', anna), [], '"van" is too short to count');
  t.deepEqual(codes('banana pancakes', anna), [], '"anna" collapsed would be too short');
  t.deepEqual(codes('AJansen forever', anna), ['contains_name'], 'username');
});

test('contains_name: email name and camel-case usernames', (t) => {
  t.deepEqual(codes('j.devries at home', { username: 'x9', email: 'J.deVries@example.org' }), ['contains_name']);
  t.deepEqual(codes('example org pineapple', { username: 'x9', email: 'j.devries@example.org' }), [], 'the domain is not a name');
  t.deepEqual(codes('my pieter rules', { username: 'PieterPost' }), ['contains_name']);
  t.deepEqual(codes('postbode marble x', { username: 'PieterPost' }), ['contains_name']);
  t.deepEqual(codes('bob loves cheese', { username: 'bob' }), ['contains_name'], 'a whole username of three counts');
  t.deepEqual(codes('jolly kettle lamp', { username: 'jo' }), [], 'names shorter than three do not');
  t.deepEqual(codes('anything 1985 goes here', { username: 'jan1985' }), [], 'digit-only parts do not count');
});

test('every problem at once, in a fixed order', (t) => {
  const p = withTerms(['contoso'], { maxLength: 8 });
  t.deepEqual(
    checkNewPassword(p, 'pass\u0007', 'other', jan).map((x) => x.code),
    ['control_characters', 'too_short', 'mismatch', 'common'],
  );
  t.deepEqual(checkNewPassword(p, 'contoso-jan.devries', 'x', jan), [{ code: 'too_long', max: 8 }, { code: 'mismatch' }], 'content rules are skipped when too long');
  t.deepEqual(codes('Contoso jan.devries', jan, withTerms(['contoso'])), ['banned_term', 'contains_name']);
});

test('same_as_current: only asked when nothing else is wrong', async (t) => {
  const asked: string[] = [];
  const isCurrent = async (p: string) => {
    asked.push(p);
    return p === GOOD;
  };
  t.deepEqual(await checkNewPasswordAgainstCurrent(policy, GOOD, GOOD, jan, isCurrent), [{ code: 'same_as_current' }]);
  t.deepEqual(await checkNewPasswordAgainstCurrent(policy, 'violet tractor 2', 'violet tractor 2', jan, isCurrent), []);
  t.deepEqual(await checkNewPasswordAgainstCurrent(policy, 'P@ssw0rd', 'P@ssw0rd', jan, isCurrent), [{ code: 'common' }]);
  t.deepEqual(asked, [GOOD, 'violet tractor 2']);
});

test('normaliseForComparison: the documented steps', (t) => {
  t.is(normaliseForComparison('P@ssw0rd'), 'pasword');
  t.is(normaliseForComparison('P@ssw0rd'), normaliseForComparison('password'));
  t.is(normaliseForComparison('p a s s w o r d'), normaliseForComparison('password'));
  t.is(normaliseForComparison('C0nt0s0'), 'contoso');
  t.is(normaliseForComparison('$umm3r'), 'sumer');
  t.is(normaliseForComparison('4pple7ree'), 'apletre');
  t.is(normaliseForComparison('1ILl!|i'), 'l', 'i, l, 1, ! and | are one class');
  t.is(normaliseForComparison('Welkom01'), 'welkomol');
  t.is(normaliseForComparison('ＰＡＳＳ'), 'pas', 'full-width forms (NFKC)');
  t.is(normaliseForComparison('Crème Brûlée'), 'cremebrule', 'accents removed, then repeats');
  t.is(normaliseForComparison('zero\u200bwidth'), 'zerowldth', 'format characters removed');
  t.is(normaliseForComparison('a-b_c.d,e;f:g"h/k'), 'abcdefghk');
  t.is(normaliseForComparison('aaaa   bbbb'), 'ab', 'repeats collapsed');
  t.is(normaliseForComparison('🐶🐶 🐱'), '🐶🐱', 'emoji kept');
  t.is(normaliseForComparison(''), '');
});

test('passwordProblemMessage: an id per code, with the numbers', (t) => {
  t.deepEqual(passwordProblemMessage({ code: 'too_short', min: 8 }), { id: 'password.problem.too_short', vars: { min: 8 } });
  t.deepEqual(passwordProblemMessage({ code: 'too_long', max: 256 }), { id: 'password.problem.too_long', vars: { max: 256 } });
  t.deepEqual(passwordProblemMessage({ code: 'common' }), { id: 'password.problem.common' });
});
