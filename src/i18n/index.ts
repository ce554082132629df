/** Message catalogues and language choice. */
import { en, type MessageId } from './en.ts';
import { nl } from './nl.ts';

export type Locale = 'en' | 'nl';
export const locales: readonly Locale[] = ['en', 'nl'];
const catalogues: Record<Locale, Record<MessageId, string>> = { en, nl };

export type { MessageId };
export type Translate = (id: MessageId, vars?: Record<string, string | number>) => string;

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (locales as readonly string[]).includes(value);
}

/** Returns a translator; unknown ids fall back to English, then to the id itself (visible, never a crash). */
export function translator(locale: Locale): Translate {
  const catalogue = catalogues[locale];
  return (id, vars) => {
    const text = (catalogue as Record<string, string>)[id] ?? (en as Record<string, string>)[id] ?? id;
    return vars ? text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m)) : text;
  };
}

/** Picks a language: explicit request (ui_locales), then the user's cookie, then Accept-Language, then the default. */
export function chooseLocale(input: { uiLocales?: string; cookie?: string; acceptLanguage?: string }, fallback: Locale): Locale {
  for (const tag of (input.uiLocales ?? '').split(/\s+/)) {
    const base = tag.toLowerCase().split('-')[0];
    if (isLocale(base)) return base;
  }
  if (isLocale(input.cookie)) return input.cookie;
  const ranked = (input.acceptLanguage ?? '')
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { base: tag.toLowerCase().split('-')[0], q: q ? Number(q.slice(2)) || 0 : 1 };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const { base } of ranked) if (isLocale(base)) return base;
  return fallback;
}
