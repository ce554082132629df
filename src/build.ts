/**
 * `npm run build`: the package as installed from npm, in dist/. Node runs TypeScript by type
 * stripping only outside node_modules, so the installed package has to be JavaScript:
 *
 *   src/**        → dist/**  (.js and .d.ts; tsconfig.build.json, relative imports rewritten to .js)
 *   migrations/*  → dist/migrations/*.js (loaded by src/store/db.ts at run time)
 *   src/security/common-passwords.txt → dist/security/ (read next to the module that uses it)
 *
 * views/ and config/ are shipped as they are: the code finds them at the package root, from
 * dist/ as from src/. `npm start` and `npm test` keep running the sources and need no build.
 */
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIST = path.join(ROOT, 'dist');

function report(diagnostics: readonly ts.Diagnostic[]): boolean {
  if (diagnostics.length === 0) return true;
  const host: ts.FormatDiagnosticsHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' };
  process.stderr.write(ts.formatDiagnosticsWithColorAndContext(diagnostics, host));
  return !diagnostics.some((d) => d.category === ts.DiagnosticCategory.Error);
}

function emit(fileNames: string[], options: ts.CompilerOptions): boolean {
  const program = ts.createProgram(fileNames, options);
  const result = program.emit();
  return report([...ts.getPreEmitDiagnostics(program), ...result.diagnostics]) && !result.emitSkipped;
}

function build(): number {
  const problems: ts.Diagnostic[] = [];
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.build.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => problems.push(d),
  });
  if (!parsed || !report([...problems, ...parsed.errors])) return 1;

  rmSync(DIST, { recursive: true, force: true });
  if (!emit(parsed.fileNames, parsed.options)) return 1;

  const migrations = path.join(ROOT, 'migrations');
  const migrationFiles = readdirSync(migrations)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(migrations, f));
  if (!emit(migrationFiles, { ...parsed.options, rootDir: migrations, outDir: path.join(DIST, 'migrations'), declaration: false })) return 1;

  mkdirSync(path.join(DIST, 'security'), { recursive: true });
  copyFileSync(path.join(ROOT, 'src/security/common-passwords.txt'), path.join(DIST, 'security/common-passwords.txt'));
  for (const bin of ['cli.js', 'server.js']) chmodSync(path.join(DIST, bin), 0o755);
  process.stdout.write(`built ${path.relative(process.cwd(), DIST) || '.'}/\n`);
  return 0;
}

process.exitCode = build();
