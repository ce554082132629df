import test from 'ava';
import { standing, type UserFacts } from '../src/sspr/policy.ts';
import { parseConfig } from '../src/config/load.ts';
import type { SsprConfig } from '../src/config/sspr-schema.ts';
import type { StoredMethod, StoredMethodKind } from '../src/store/sspr.ts';

// The interrupt matrix: enabled none/selected/all × in/out of group × registered vs required
// (1 and 2, administrators) × reconfirm 0/180 days × skips and maxSkips.

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 23);

function sspr(overrides: Record<string, unknown>): SsprConfig {
  return parseConfig({
    sspr: {
      enabled: 'all',
      groups: ['Pilot'],
      methods: { email: true, mobilePhone: true, authenticatorApp: true, securityQuestions: true, officePhone: true },
      administrators: { groups: ['Admins'] },
      ...overrides,
    },
  }).sspr;
}

const method = (kind: StoredMethodKind): StoredMethod => ({ id: `${kind}:u`, kind, slot: '', label: null, value: 'x', verifiedAt: NOW - DAY, createdAt: NOW - DAY, updatedAt: NOW - DAY });

function facts(kinds: StoredMethodKind[], opts: { groups?: string[]; answers?: number; confirmedDaysAgo?: number | null; skips?: number } = {}): UserFacts {
  return {
    groups: opts.groups ?? [],
    methods: kinds.map(method),
    answers: Array.from({ length: opts.answers ?? 0 }, (_, i) => ({ questionId: `q${i}`, answerHash: 'h', createdAt: NOW })),
    state: {
      confirmedAt: opts.confirmedDaysAgo === null || opts.confirmedDaysAgo === undefined ? (kinds.length ? NOW - DAY : null) : NOW - opts.confirmedDaysAgo * DAY,
      skips: opts.skips ?? 0,
    },
  };
}

const enabledCases = [
  { enabled: 'none', groups: [], inScope: false },
  { enabled: 'selected', groups: [], inScope: false },
  { enabled: 'selected', groups: ['pilot'], inScope: true },
  { enabled: 'all', groups: [], inScope: true },
] as const;

for (const c of enabledCases) {
  for (const required of [1, 2] as const) {
    for (const registered of [[], ['email'], ['email', 'mobile_phone']] as StoredMethodKind[][]) {
      test(`enabled=${c.enabled} groups=[${c.groups}] required=${required} registered=${registered.length}`, (t) => {
        const s = standing(sspr({ enabled: c.enabled, methodsRequired: required }), facts(registered, { groups: [...c.groups] }), NOW);
        t.is(s.inScope, c.inScope);
        t.is(s.required, required);
        t.is(s.enough, registered.length >= required);
        const expected = !c.inScope ? 'none' : registered.length >= required ? 'none' : 'register';
        t.is(s.interrupt, expected);
      });
    }
  }
}

test('administrators need two methods whatever methodsRequired says, and never security questions', (t) => {
  const config = sspr({ methodsRequired: 1 });
  const one = standing(config, facts(['email'], { groups: ['ADMINS'] }), NOW);
  t.true(one.isAdmin);
  t.is(one.required, 2);
  t.false(one.enough);
  t.is(one.interrupt, 'register');
  t.false(one.available.includes('securityQuestions'));
  const withQuestions = standing(config, facts(['email'], { groups: ['Admins'], answers: 3 }), NOW);
  t.false(withQuestions.enough, 'answers do not count for an administrator');
  t.true(standing(config, facts(['email', 'mobile_phone'], { groups: ['Admins'] }), NOW).enough);
});

test('the authenticator app alone never makes a user registered', (t) => {
  t.false(standing(sspr({ methodsRequired: 1 }), facts(['authenticator_app']), NOW).enough);
  t.true(standing(sspr({ methodsRequired: 2 }), facts(['authenticator_app', 'email']), NOW).enough);
  t.false(standing(sspr({ methodsRequired: 2 }), facts(['authenticator_app']), NOW).enough);
});

test('security questions count once numberToRegister are answered', (t) => {
  const config = sspr({ securityQuestions: { numberToRegister: 4, numberToReset: 3 } });
  t.false(standing(config, facts([], { answers: 3 }), NOW).enough);
  t.true(standing(config, facts([], { answers: 4 }), NOW).enough);
});

test('raising methodsRequired from 1 to 2 makes one-method users unregistered', (t) => {
  const f = facts(['email']);
  t.is(standing(sspr({ methodsRequired: 1 }), f, NOW).interrupt, 'none');
  t.is(standing(sspr({ methodsRequired: 2 }), f, NOW).interrupt, 'register');
});

test('a method that is no longer offered does not count', (t) => {
  t.false(standing(sspr({ methods: { email: false, mobilePhone: true } }), facts(['email']), NOW).enough);
});

for (const days of [0, 180]) {
  for (const age of [10, 179, 180, 400]) {
    test(`reconfirmAfterDays=${days}, confirmed ${age} days ago`, (t) => {
      const s = standing(sspr({ registration: { reconfirmAfterDays: days } }), facts(['email'], { confirmedDaysAgo: age }), NOW);
      const due = days > 0 && age >= days;
      t.is(s.reconfirmDue, due);
      t.is(s.interrupt, due ? 'reconfirm' : 'none');
    });
  }
}

test('requireOnSignIn off never interrupts', (t) => {
  const config = sspr({ registration: { requireOnSignIn: false } });
  t.is(standing(config, facts([]), NOW).interrupt, 'none');
  t.is(standing(config, facts(['email'], { confirmedDaysAgo: 1000 }), NOW).interrupt, 'none');
});

for (const [maxSkips, skips, canSkip] of [
  [null, 50, true],
  [0, 0, false],
  [3, 2, true],
  [3, 3, false],
] as const) {
  test(`maxSkips=${maxSkips} after ${skips} skips: ${canSkip ? 'may' : 'may not'} skip`, (t) => {
    t.is(standing(sspr({ registration: { maxSkips } }), facts([], { skips }), NOW).canSkip, canSkip);
  });
}

test('the configuration refuses numberToReset above numberToRegister and selected without groups', (t) => {
  t.throws(() => sspr({ securityQuestions: { numberToRegister: 3, numberToReset: 4 } }), { message: /sspr\.securityQuestions\.numberToReset/ });
  t.throws(() => parseConfig({ sspr: { enabled: 'selected' } }), { message: /sspr\.groups/ });
  t.throws(() => parseConfig({ sspr: { enabled: 'all', methods: { email: false, mobilePhone: false, securityQuestions: false } } }), { message: /sspr\.methods/ });
});
