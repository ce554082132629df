/**
 * Times `oidc-sspr report registration` and `report resets` as an administrator runs them: the CLI
 * as a process of its own on the bench's configuration file, its wall time and peak RSS (VmHWM).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { procStatus, round } from './measure.ts';
import { nodeBin, root } from './servers.ts';

export interface ReportTiming {
  command: string;
  seconds: number | null;
  peakRssMiB: number | null;
  outputLines: number;
  exitCode: number | null;
}

async function timeOne(args: string[], configFile: string, cwd: string): Promise<ReportTiming> {
  const t0 = performance.now();
  const child = spawn(nodeBin, [path.join(root, 'src/cli.ts'), '--config', configFile, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let hwm = 0;
  let lines = 0;
  let errors = '';
  const sampler = setInterval(() => {
    if (child.pid) hwm = Math.max(hwm, procStatus(child.pid)?.hwmKb ?? 0);
  }, 10);
  child.stdout!.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 10) lines += 1;
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    errors = (errors + chunk.toString()).slice(-2000);
  });
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  clearInterval(sampler);
  if (exitCode !== 0) process.stderr.write(`${args.join(' ')} failed (${exitCode}): ${errors}\n`);
  return { command: args.join(' '), seconds: round((performance.now() - t0) / 1000, 2), peakRssMiB: round(hwm / 1024), outputLines: lines, exitCode };
}

export async function timeReports(configFile: string, cwd: string, say: (line: string) => void): Promise<ReportTiming[]> {
  const out: ReportTiming[] = [];
  for (const args of [['report', 'registration'], ['report', 'resets']]) {
    const t = await timeOne(args, configFile, cwd);
    say(`  ${t.command}: ${t.seconds} s, peak RSS ${t.peakRssMiB} MiB, ${t.outputLines} lines${t.exitCode ? ` (EXIT ${t.exitCode})` : ''}`);
    out.push(t);
  }
  return out;
}
