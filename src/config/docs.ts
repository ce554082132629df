/**
 * The README's configuration reference, generated from the zod schema in schema.ts
 * (keys, types, defaults, ranges and `.describe()` texts), so the two can't drift apart.
 *
 *   node src/config/docs.ts            print the reference
 *   node src/config/docs.ts --write    replace the block between the markers in README.md
 *                                      (`npm run docs:config`); `--write FILE` for another file
 */
import { readFileSync, realpathSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema, needsRestart } from './schema.ts';
import { code, formatValue, rulesOf, typeOf, unwrap, type AnySchema, type Wrapping } from './schema-words.ts';

export const REFERENCE_START = '<!-- config-reference:start -->';
export const REFERENCE_END = '<!-- config-reference:end -->';

/** One documented leaf key. */
export interface ConfigKeyDoc {
  /** Full dotted path; array items are written `clients[].redirectUris`. */
  key: string;
  /** The section (table) the key is listed in, e.g. `oidc.ttl`; empty for top-level leaves. */
  section: string;
  type: string;
  /** Markdown: a code span with the default, `required`, or `—` (optional, no default). */
  default: string;
  /** Markdown: min–max, lengths, item counts and other rules; `—` when unconstrained. */
  range: string;
  description: string;
}

/**
 * Sections that get a table of their own; every other key goes in the table of the longest
 * section that contains it, or of its top-level key when none does.
 */
const SECTIONS = ['server', 'database', 'logging', 'oidc', 'oidc.ttl', 'clients[]', 'passwords.argon2', 'ui'];

interface Node {
  path: string;
  description: string | undefined;
  isList: boolean;
  listDefault: string | undefined;
}

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/** The description, with "Needs a restart." for keys read only at start (the restartOnly marks in the schema). */
function withRestart(description: string, key: string): string {
  if (!needsRestart(key)) return description;
  return `${description.replace(/\.?$/, '.')} Needs a restart.`.trim();
}

/** Walks the schema: every leaf key with its documentation, plus the object nodes (for section headings). */
function collect(): { keys: ConfigKeyDoc[]; nodes: Node[] } {
  const keys: ConfigKeyDoc[] = [];
  const nodes: Node[] = [];

  const visit = (schema: AnySchema, path: string[], inList: Wrapping | undefined): void => {
    const { inner, wrapping } = unwrap(schema);
    const def = (inner as z.core.$ZodTypes)._zod.def;
    const key = path.join('.');
    if (def.type === 'object') {
      nodes.push({
        path: key,
        description: wrapping.description ?? inList?.description,
        isList: inList !== undefined,
        listDefault: inList?.hasDefault ? formatValue(inList.defaultValue) : undefined,
      });
      for (const [name, child] of Object.entries(def.shape)) visit(child, [...path, name], undefined);
      return;
    }
    if (def.type === 'array' && unwrap(def.element).inner._zod.def.type === 'object' && path.length > 0) {
      const last = path[path.length - 1]!;
      visit(def.element, [...path.slice(0, -1), `${last}[]`], wrapping);
      return;
    }
    keys.push({
      key,
      section: '',
      type: typeOf(inner),
      default: wrapping.hasDefault ? formatValue(wrapping.defaultValue) : wrapping.optional ? '—' : 'required',
      range: rulesOf(inner).join('; ') || '—',
      description: withRestart(wrapping.description ?? '', key),
    });
  };

  visit(configSchema, [], undefined);

  for (const entry of keys) {
    const within = SECTIONS.filter((s) => entry.key.startsWith(`${s}.`)).sort((a, b) => b.length - a.length)[0];
    entry.section = within ?? (entry.key.includes('.') ? entry.key.slice(0, entry.key.indexOf('.')) : '');
  }
  return { keys, nodes };
}

/** Every leaf key of the configuration schema, in schema order. */
export function configKeyDocs(): ConfigKeyDoc[] {
  return collect().keys;
}

/** The Markdown configuration reference: one table per section, in schema order. */
export function configReference(): string {
  const { keys, nodes } = collect();
  const order = new Map(nodes.map((node, index) => [node.path, index]));
  const sections = [...new Set(keys.map((k) => k.section))].sort(
    (a, b) => (order.get(a) ?? Number.MAX_SAFE_INTEGER) - (order.get(b) ?? Number.MAX_SAFE_INTEGER) || a.localeCompare(b),
  );

  const out: string[] = [
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; do not edit by hand. -->',
    '',
    'Every key is optional unless its default says **required**. `clients[].` keys apply to each entry of the `clients` list.',
  ];
  for (const section of sections) {
    const node = nodes.find((n) => n.path === section);
    out.push('', `### ${section ? code(section) : 'Top level'}`, '');
    let intro = node?.description ? node.description.replace(/\.?$/, '.') : '';
    if (node?.isList) {
      const listKey = section.replace(/\[\]$/, '');
      const listDefault = node.listDefault ? `, default ${node.listDefault}` : '';
      intro = `${intro} ${code(listKey)} is a list${listDefault}; each entry has these keys:`.trim();
    }
    if (intro) out.push(intro, '');
    out.push('| Key | Type | Default | Range | Description |', '| --- | --- | --- | --- | --- |');
    for (const k of keys.filter((entry) => entry.section === section)) {
      out.push(`| ${[code(k.key), k.type, k.default, k.range, k.description].map(cell).join(' | ')} |`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** The generated text between the markers, or undefined when the markers are missing or out of order. */
export function extractReferenceBlock(markdown: string): string | undefined {
  const start = markdown.indexOf(REFERENCE_START);
  const end = markdown.indexOf(REFERENCE_END);
  if (start < 0 || end < start || markdown.indexOf(REFERENCE_START, start + 1) >= 0) return undefined;
  return markdown.slice(start + REFERENCE_START.length, end).replace(/^\r?\n/, '');
}

/** `markdown` with the text between the markers replaced by `reference`; undefined when the markers are missing. */
export function replaceReferenceBlock(markdown: string, reference: string): string | undefined {
  if (extractReferenceBlock(markdown) === undefined) return undefined;
  const start = markdown.indexOf(REFERENCE_START) + REFERENCE_START.length;
  const end = markdown.indexOf(REFERENCE_END);
  return `${markdown.slice(0, start)}\n${reference}${markdown.slice(end)}`;
}

/** README.md at the repository root. */
export const README = fileURLToPath(new URL('../../README.md', import.meta.url));

function main(args: string[]): number {
  const usage = 'usage: node src/config/docs.ts [--write [FILE]]   (FILE defaults to README.md)';
  if (args.length === 0) {
    process.stdout.write(configReference());
    return 0;
  }
  if (args[0] !== '--write' || args.length > 2) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  const file = args[1] ?? README;
  if (!existsSync(file)) {
    process.stderr.write(
      `${file} does not exist. Create it with the lines\n  ${REFERENCE_START}\n  ${REFERENCE_END}\nwhere the configuration reference belongs, then run this again.\n`,
    );
    return 1;
  }
  const before = readFileSync(file, 'utf8');
  const after = replaceReferenceBlock(before, configReference());
  if (after === undefined) {
    process.stderr.write(
      `${file} has no configuration reference block: it needs exactly one line ${REFERENCE_START} followed later by a line ${REFERENCE_END}.\n`,
    );
    return 1;
  }
  if (after === before) {
    process.stdout.write(`${file}: configuration reference is up to date\n`);
  } else {
    writeFileSync(file, after);
    process.stdout.write(`${file}: configuration reference updated\n`);
  }
  return 0;
}

const invokedDirectly = (() => {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) process.exitCode = main(process.argv.slice(2));
