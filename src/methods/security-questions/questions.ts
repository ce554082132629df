/**
 * Security questions: the list shipped with the product (English and Dutch) and the catalogue a
 * deployment offers (predefined and/or its own). Answers are stored by question id, so ids never change.
 */
import { createHash } from 'node:crypto';
import type { Locale } from '../../i18n/index.ts';

export interface Question {
  id: string;
  en: string;
  nl: string;
}

/**
 * Personal, stable facts that are hard to look up or guess. Questions whose answers people tend to
 * post online (pets, birthdays, favourite things, mother's maiden name) are left out on purpose.
 */
const questions: readonly (readonly [id: string, en: string, nl: string])[] = [
  ['first-school', 'What was the name of the first school you went to?', 'Hoe heette de eerste school waar je naartoe ging?'],
  ['childhood-best-friend', 'What was the first name of your best friend when you were a child?', 'Wat was de voornaam van je beste vriend of vriendin toen je klein was?'],
  ['favourite-teacher', 'What was the surname of your favourite teacher?', 'Wat was de achternaam van je favoriete leraar of lerares?'],
  ['parents-met-city', 'In which town or city did your parents meet?', 'In welke plaats hebben je ouders elkaar leren kennen?'],
  ['first-concert', 'Which artist or band did you see at your first concert?', 'Welke artiest of band zag je bij je eerste concert?'],
  ['childhood-nickname', 'What nickname did your family call you as a child?', 'Welke bijnaam gaf je familie je toen je klein was?'],
  ['first-car', 'What were the make and model of your first car?', 'Wat waren het merk en het model van je eerste auto?'],
  ['first-manager', 'What was the first name of your first manager at work?', 'Wat was de voornaam van je eerste leidinggevende?'],
  ['first-partner-city', 'In which town or city did you meet your first partner?', 'In welke plaats heb je je eerste partner ontmoet?'],
  ['childhood-cuddly-toy', 'What was the name of your favourite cuddly toy as a child?', 'Hoe heette je lievelingsknuffel toen je klein was?'],
  ['first-trip-abroad', 'Which town or city did you visit on your first trip abroad?', 'Welke plaats bezocht je tijdens je eerste reis naar het buitenland?'],
  ['childhood-neighbours', 'What was the surname of your neighbours when you were a child?', 'Wat was de achternaam van jullie buren toen je klein was?'],
  ['first-cinema-film', 'What was the first film you saw in a cinema?', 'Wat was de eerste film die je in de bioscoop zag?'],
  ['driving-instructor', 'What was the first name of your driving instructor?', 'Wat was de voornaam van je rijinstructeur?'],
  ['school-not-attended', 'Which school or university did you apply to but not attend?', 'Bij welke school of universiteit meldde je je aan zonder er uiteindelijk naartoe te gaan?'],
];

export const predefinedQuestions: readonly Question[] = Object.freeze(questions.map(([id, en, nl]) => Object.freeze({ id, en, nl })));

/** Id of a custom question given only as text: `custom-` and a short hash of the English text. */
export function customQuestionId(en: string): string {
  return `custom-${createHash('sha256').update(en.trim().normalize('NFC'), 'utf8').digest('hex').slice(0, 12)}`;
}

/**
 * The questions users may choose from: the predefined ones (when `predefined`), then the custom
 * ones. A text becomes a question with a derived id; Dutch falls back to English. The configuration
 * refuses a question given twice (sspr-schema.ts); should two still share an id, the first one wins.
 */
/** `sspr.securityQuestions` as far as the catalogue needs it. */
export interface QuestionSettings {
  predefined: boolean;
  custom: readonly (string | { id?: string; en: string; nl?: string })[];
}

export function questionCatalogue(config: QuestionSettings): Question[] {
  const all: Question[] = config.predefined ? predefinedQuestions.map((q) => ({ ...q })) : [];
  for (const custom of config.custom) {
    if (typeof custom === 'string') {
      all.push({ id: customQuestionId(custom), en: custom, nl: custom });
    } else {
      all.push({ id: custom.id ?? customQuestionId(custom.en), en: custom.en, nl: custom.nl ?? custom.en });
    }
  }
  const seen = new Set<string>();
  return all.filter((q) => (seen.has(q.id) ? false : (seen.add(q.id), true)));
}

export function questionText(q: Question, locale: Locale): string {
  return (locale === 'nl' ? q.nl : q.en) || q.en;
}
