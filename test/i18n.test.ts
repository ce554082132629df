import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { en } from '../src/i18n/en.ts';
import { nl } from '../src/i18n/nl.ts';
import { translator, chooseLocale, type MessageId } from '../src/i18n/index.ts';

// The catalogues: no message id missing in either language, none unused, placeholders alike.

const ROOT = path.resolve(import.meta.dirname, '..');

async function files(dir: string, ext: RegExp): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && ext.test(entry.name)) out.push(path.join(entry.parentPath, entry.name));
  }
  return out;
}

async function sources(): Promise<string> {
  const list = [...(await files('src', /\.ts$/)), ...(await files('views', /\.ejs$/))].filter((f) => !/[/\\]i18n[/\\]/.test(f));
  return (await Promise.all(list.map((f) => readFile(f, 'utf8')))).join('\n');
}

const ids = Object.keys(en);

test('English and Dutch have exactly the same ids, none empty', (t) => {
  t.deepEqual(Object.keys(nl).sort(), [...ids].sort());
  for (const id of ids) {
    t.true((en as Record<string, string>)[id]!.trim().length > 0, `en ${id}`);
    t.true((nl as Record<string, string>)[id]!.trim().length > 0, `nl ${id}`);
  }
});

test('placeholders are the same in both languages', (t) => {
  const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const id of ids) t.deepEqual(vars((nl as Record<string, string>)[id]!), vars((en as Record<string, string>)[id]!), id);
});

test('every id used in code and views exists; every id in the catalogue is used', async (t) => {
  const code = await sources();
  // Literal uses: t('id'), messageId: 'id', title: 'id', error ids passed around as strings.
  const literal = new Set([...code.matchAll(/['"`]([a-z_]+(?:\.[A-Za-z0-9_]+)+)['"`]/g)].map((m) => m[1]!));
  const known = new Set(ids);
  const candidates = [...literal].filter((s) => /^(login|consent|logout|error|register|reconfirm|method|email|code|phone|office_phone|totp|questions|mail|sms|voice|setup|recover|password|layout|lang)\./.test(s));
  // Log event names, audit types and delivery template kinds look alike but are no message ids.
  const notMessages = new Set([...code.matchAll(/\b(?:event|kind|type|purpose)\s*:\s*['"`]([^'"`$]+)/g)].map((m) => m[1]!));
  const missing = candidates.filter((s) => !known.has(s) && !notMessages.has(s) && !/\.(ejs|ts)$/.test(s) && !ids.some((id) => id.startsWith(`${s}.`)));
  t.deepEqual(missing, [], 'ids used but not in the catalogue');

  // Ids built at run time from a prefix (t('method.' + id + '.name'), `recover.refused.${reason}.title`...).
  const dynamicPrefixes = [...code.matchAll(/['"`]([a-z_]+(?:\.[A-Za-z0-9_]+)*\.)['"`]\s*\+|`([a-z_]+(?:\.[A-Za-z0-9_]+)*\.)\$\{/g)].map((m) => m[1] ?? m[2]!);
  const unused = ids.filter((id) => !literal.has(id) && !dynamicPrefixes.some((p) => id.startsWith(p)) && !/^error\.invalid_/.test(id));
  t.deepEqual(unused, [], 'ids in the catalogue that nothing uses');
});

test('unknown ids fall back visibly, never crash; language choice follows ui_locales, cookie, Accept-Language, default', (t) => {
  const nlT = translator('nl');
  t.is(nlT('login.title'), 'Aanmelden');
  // Templates pass ids as plain strings, so the type can't stop a wrong one there.
  t.is(nlT('no.such.id' as MessageId), 'no.such.id');
  t.is(chooseLocale({ uiLocales: 'nl-BE en' }, 'en'), 'nl');
  t.is(chooseLocale({ uiLocales: 'fr', cookie: 'nl' }, 'en'), 'nl');
  t.is(chooseLocale({ acceptLanguage: 'de-DE, nl;q=0.8, en;q=0.5' }, 'en'), 'nl');
  t.is(chooseLocale({ acceptLanguage: 'fr, de' }, 'nl'), 'nl');
});
