/** Plain-text output of the CLI: tables, cells and values that can't steer the terminal. */

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Control and format characters made visible: report fields come from requests and must not steer the terminal. */
export const visible = (text: string) => text.replace(/[\p{Cc}\p{Cf}]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);

/** A column value: '-' when empty, whitespace escaped so the columns stay columns. */
export const cell = (value: string | null) => (value === null || value === '' ? '-' : visible(value).replace(/\s/g, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`));

/** One row of a table whose column widths are known: cells padded, two spaces apart, the last not padded. */
export const tableRow = (cells: string[], widths: readonly number[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();

/** Columns padded to the widest cell, two spaces apart; the last column is not padded. */
export function table(rows: string[][]): string {
  // A loop, not Math.max(...): a report over a million users would overflow the call stack.
  const widths = rows[0]!.map((_cell, i) => rows.reduce((w, r) => Math.max(w, r[i]!.length), 0));
  return rows.map((r) => tableRow(r, widths)).join('\n');
}

/** Percentage with one decimal; null when there is nothing to divide by. */
export const percent = (part: number, whole: number) => (whole === 0 ? null : Math.round((part * 1000) / whole) / 10);
export const percentText = (value: number | null) => (value === null ? 'n/a' : `${value.toFixed(1)}%`);
