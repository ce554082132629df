/**
 * Form fuzzing: every variant of a form's post (missing, repeated, oversized, unicode,
 * control-character and wrong-shape values, bad CSRF tokens, foreign content types), each checked
 * to reach what it aims at — the handler, or the refusal in front of it — and to change nothing
 * it must not (a database snapshot before and after every post).
 */
import { appendFileSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { forms, type Browser, type FormInfo, type Page } from './browser.ts';

export const NASTY: Record<string, string> = {
  empty: '',
  huge: 'x'.repeat(20_000),
  control: 'a\u0001b\u001b[31mc\u007f',
  nul: 'a\u0000b',
  rtl: 'admin\u202egnp.exe',
  emoji: '🙂👩‍👩‍👧e\u0301',
  html: '<script>alert(1)</script>"\'>',
  path: '../../../etc/passwd',
  sql: "' OR 1=1; DROP TABLE users; --",
  json: '{"$ne":null}',
  number: '1e309',
  newline: 'line1\r\nSet-Cookie: x=y',
  lonesurrogate: '\ud800',
};

/** What a variant must meet: the form's handler, or a refusal before it (status and error code). */
export type Aim = { handler: true } | { handler: false; status: number; code: string };

export interface Variant {
  label: string;
  /** The body, built from a fixture's form (its own CSRF token and hidden values). */
  body(form: FormInfo): string;
  contentType: string;
  aim: Aim;
}

const FORM = 'application/x-www-form-urlencoded';
const refused = (status: number, code: string): Aim => ({ handler: false, status, code });
const HANDLER: Aim = { handler: true };
const params = (form: FormInfo) => new URLSearchParams(form.fields);

/** Every variant of a form's post (the fields of `form`), with what each must reach. */
export function variants(form: FormInfo): Variant[] {
  const out: Variant[] = [];
  const add = (label: string, body: (form: FormInfo) => string, aim: Aim, contentType = FORM) => out.push({ label, body, aim, contentType });
  for (const field of Object.keys(form.fields)) {
    const csrf = field === 'csrf';
    add(`${field} missing`, (f) => {
      const p = params(f);
      p.delete(field);
      return p.toString();
    }, csrf ? refused(403, 'csrf_invalid') : HANDLER);
    add(`${field} repeated`, (f) => {
      const p = params(f);
      p.append(field, 'again');
      return p.toString();
    }, refused(400, 'repeated_field'));
    for (const [kind, value] of Object.entries(NASTY)) {
      // NUL is refused by the form reader; a lone surrogate is sent as U+FFFD, refused alike.
      const aim = kind === 'nul' || kind === 'lonesurrogate' ? refused(400, 'invalid_characters') : csrf ? refused(403, 'csrf_invalid') : HANDLER;
      add(`${field} ${kind}`, (f) => {
        const p = params(f);
        p.set(field, value);
        return p.toString();
      }, aim);
    }
    add(`${field}[] shape`, (f) => `${params(f).toString()}&${encodeURIComponent(`${field}[]`)}=1&${encodeURIComponent(`${field}[a]`)}=2`, HANDLER);
  }
  add('only csrf', (f) => new URLSearchParams({ csrf: f.fields.csrf ?? '' }).toString(), HANDLER);
  add('broken encoding', (f) => `${params(f).toString()}&bad=%E0%A4%A`, refused(400, 'invalid_characters'));
  add('oversized body', (f) => `${params(f).toString()}&pad=${'y'.repeat(70_000)}`, refused(413, 'body_too_large'));
  for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x']) {
    add(type, (f) => JSON.stringify(f.fields), refused(415, 'unsupported_media_type'), type);
  }
  return out;
}

/** Parts of the stored state a post could change. */
export type Section = 'password' | 'lockout' | 'methods' | 'answers' | 'registration' | 'resets' | 'challenges' | 'throttle' | 'sessions' | 'audit';

export type Snapshot = Record<Section, string>;

/** The whole stored state that matters, by section (audit: the events after `auditFrom`). */
export async function snapshot(db: Knex, auditFrom: number): Promise<{ state: Snapshot; lastAudit: number }> {
  const rows = async (q: Knex.QueryBuilder) => JSON.stringify(await q);
  const audit = (await db('audit_events').where('id', '>', auditFrom).orderBy('id').select('id', 'type', 'outcome', 'user_id')) as { id: number | string; type: string; outcome: string }[];
  const count = async (model: string) => Number((await db('oidc_payloads').where({ model }).count({ n: '*' }).first())?.n);
  return {
    lastAudit: audit.length ? Number(audit.at(-1)!.id) : auditFrom,
    state: {
      password: await rows(db('users').orderBy('id').select('id', 'username', 'password_hash', 'password_changed_at', 'status', 'email', 'email_verified', 'display_name', 'password_source')),
      lockout: await rows(db('users').orderBy('id').select('id', 'failed_signins', 'lockouts', 'locked_until')),
      methods: await rows(db('sspr_methods').orderBy(['user_id', 'kind']).select('user_id', 'kind', 'value', 'verified_at', 'last_used_step')),
      answers: await rows(db('sspr_security_answers').orderBy(['user_id', 'question_id']).select('user_id', 'question_id', 'answer_hash')),
      registration: await rows(db('sspr_state').orderBy('user_id').select('user_id', 'confirmed_at', 'skips')),
      resets: await rows(db('reset_flows').orderBy('id_hash').select('id_hash', 'user_id', 'state', 'version', 'data')),
      challenges: await rows(db('sspr_challenges').orderBy('id').select('id', 'purpose', 'target_key', 'attempts', 'sends', 'consumed_at', 'code_hash')),
      throttle: await rows(db('throttle_counters').orderBy('key').select('key', 'points', 'window_expires_at', 'blocked_until')),
      sessions: JSON.stringify({ account: Number((await db('account_sessions').count({ n: '*' }).first())?.n), Session: await count('Session'), Grant: await count('Grant') }),
      audit: JSON.stringify(audit.map((e) => `${e.type}:${e.outcome}`)),
    },
  };
}

/** Error codes on a page that mean the post never got to the form's handler, or met the wrong step. */
const ELSEWHERE = /Error code: (csrf_invalid|session_expired|reset_expired|reset_wrong_step|reset_step_conflict|wrong_step|repeated_field|invalid_characters|malformed_body|body_too_large|unsupported_media_type)\b/;
const INTERNALS = /\n\s+at [\w.<>$]+ \(|node_modules\/|TypeError|ReferenceError|RangeError|SQLITE_|knex|ECONNREFUSED|\.ts:\d+/;

export interface Fixture {
  browser: Browser;
  page: Page;
}

export interface Target {
  name: string;
  /** A fresh flow or session showing the form. */
  open(): Promise<Fixture>;
  /** The form: the one whose action's path ends with this (and, with `field`, that has this field). */
  action: string;
  field?: string;
  /** Values typed into the form before it is fuzzed, so a change to one field gets past the others' checks. */
  fill?: Record<string, string>;
  /**
   * A new fixture after this many posts that reached the handler (1: every one; unset: one for the
   * whole form) — for forms whose handled posts use the flow up (wrong codes, a finished flow).
   */
  freshAfter?: number;
  /** The handler answered: its own page with an error, or the step it leads to. */
  handled(page: Page): boolean;
  /** Sections a handled post may change (say why at the target); refused posts change nothing at all. */
  mayChange?: Section[];
  /** Audit events a handled post may add (type:outcome); none unless listed. */
  audit?: RegExp;
}

export interface Tally {
  posts: number;
  handled: number;
  refused: number;
  fixtures: number;
}

export function formOf(page: Page, action: string, field?: string, fill: Record<string, string> = {}): FormInfo {
  const form = forms(page).find((f) => new URL(f.action).pathname.endsWith(action) && (field === undefined || field in f.fields));
  if (!form) throw new Error(`no form posting to …${action} on ${page.url} (status ${page.status}):\n${page.html.slice(0, 3000)}`);
  return { ...form, fields: { ...form.fields, ...fill } };
}

/**
 * Posts every variant of the target's form; each checked for its aim, safety and what it changed.
 * `settled` resolves once the IdP's background work is done.
 */
export async function hammer(t: ExecutionContext, db: Knex, target: Target, settled: () => Promise<void> = async () => {}): Promise<Tally> {
  const tally: Tally = { posts: 0, handled: 0, refused: 0, fixtures: 0 };
  let fixture: Fixture = await target.open();
  let used = 0;
  tally.fixtures += 1;
  const list = variants(formOf(fixture.page, target.action, target.field, target.fill));
  const latestAudit = async () => Number((await db('audit_events').max({ id: 'id' }).first())?.id ?? 0);
  let lastAudit = await latestAudit();
  // The state after one post is the state before the next, unless a fresh flow was opened between.
  let current: Snapshot | undefined;
  for (const variant of list) {
    if (target.freshAfter !== undefined && used >= target.freshAfter) {
      fixture = await target.open();
      tally.fixtures += 1;
      used = 0;
      // What opening the flow recorded (a sign-in, a started registration) is not the post's doing.
      lastAudit = await latestAudit();
      current = undefined;
    }
    // The variant is built from this fixture's form (its own CSRF token and hidden values).
    const form = formOf(fixture.page, target.action, target.field, target.fill);
    const body = variant.body(form);
    const before = { state: current ?? (await snapshot(db, lastAudit)).state };
    const page: Page = await fixture.browser.request(form.action, { body, headers: { 'Content-Type': variant.contentType } });
    // Work a post started in the background (a helpdesk mail and its audit event) counts as its own.
    await settled();
    const after = await snapshot(db, lastAudit);
    lastAudit = after.lastAudit;
    current = { ...after.state, audit: '[]' };
    const where: string = `${target.name}: ${variant.label} → ${page.status} ${page.headers.get('location') ?? ''} ${(/Error code: \w+/.exec(page.html) ?? [''])[0]}`;
    tally.posts += 1;
    // FUZZ_DEBUG=<file>: one line per post (outcome, the alert shown, what changed), to review by hand.
    if (process.env.FUZZ_DEBUG) appendFileSync(process.env.FUZZ_DEBUG, `${where} | ${(/role="alert"[^>]*>([^<]*)/.exec(page.html) ?? ['', ''])[1]} | ${(Object.keys(after.state) as Section[]).filter((k) => k === 'audit' ? after.state.audit !== '[]' : after.state[k] !== before.state[k]).map((k) => k === 'audit' ? after.state.audit : k).join(',')}\n`);
    t.true(page.status > 0 && page.status < 500, `${where}: no 5xx`);
    t.notRegex(page.html, INTERNALS, `${where}: no internals`);
    t.false(page.html.includes(NASTY.html!), `${where}: a posted value is never echoed unescaped`);
    t.false(page.headers.getSetCookie().some((c) => c.startsWith('x=')) || (page.headers.get('location') ?? '').includes('\n'), `${where}: no header injection`);
    if (variant.aim.handler) {
      tally.handled += 1;
      used += 1;
      t.notRegex(page.html, ELSEWHERE, `${where}: reached the handler, not a refusal in front of it`);
      t.true(target.handled(page), `${where}: the handler's own answer\n${page.html.slice(page.html.indexOf('<main'), page.html.indexOf('<main') + 1500)}`);
      for (const section of Object.keys(after.state) as Section[]) {
        if (section === 'audit') {
          const added = JSON.parse(after.state.audit) as string[];
          const unexpected = added.filter((e) => !target.audit?.test(e));
          t.deepEqual(unexpected, [], `${where}: no audit events but ${target.audit ?? 'none'}`);
        } else if (!target.mayChange?.includes(section)) {
          t.is(after.state[section], before.state[section], `${where}: ${section} unchanged`);
        }
      }
    } else {
      tally.refused += 1;
      t.is(page.status, variant.aim.status, `${where}: refused with ${variant.aim.status}`);
      t.regex(page.html, new RegExp(`\\b${variant.aim.code}\\b`), `${where}: refused as ${variant.aim.code}`);
      t.deepEqual(after.state, before.state, `${where}: a refused post changes nothing`);
    }
  }
  return tally;
}
