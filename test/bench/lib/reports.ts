/**
 * Times `oidc-sspr report registration` and `report resets` as an administrator runs them: the CLI
 * as a process of its own on the bench's configuration file, its wall time, and its own peak RSS
 * and CPU as it reports them at exit (rusage-at-exit.ts).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { round } from './measure.ts';
import { nodeBin, root } from './servers.ts';

export interface ReportTiming {
  command: string;
  seconds: number | null;
  peakRssMiB: number | null;
  cpuSeconds: number | null;
  outputLines: number;
  exitCode: number | null;
}

async function timeOne(args: string[], configFile: string, cwd: string): Promise<ReportTiming> {
  const t0 = performance.now();
  const preload = path.join(root, 'test/bench/lib/rusage-at-exit.ts');
  const child = spawn(nodeBin, ['--import', preload, path.join(root, 'src/cli.ts'), '--config', configFile, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let lines = 0;
  let errors = '';
  let usage = '';
  // Read as fast as it comes, like a terminal or a file would take it.
  child.stdout!.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 10) lines += 1;
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    errors = (errors + chunk.toString()).slice(-2000);
  });
  child.stdio[3]!.on('data', (chunk: Buffer) => {
    usage += chunk.toString();
  });
  const exitCode = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const seconds = round((performance.now() - t0) / 1000, 2);
  if (exitCode !== 0) process.stderr.write(`${args.join(' ')} failed (${exitCode}): ${errors}\n`);
  const rusage = usage ? (JSON.parse(usage) as NodeJS.ResourceUsage) : undefined;
  return {
    command: args.join(' '),
    seconds,
    peakRssMiB: rusage ? round(rusage.maxRSS / 1024) : null,
    cpuSeconds: rusage ? round((rusage.userCPUTime + rusage.systemCPUTime) / 1e6, 2) : null,
    outputLines: lines,
    exitCode,
  };
}

export async function timeReports(configFile: string, cwd: string, say: (line: string) => void): Promise<ReportTiming[]> {
  const out: ReportTiming[] = [];
  for (const args of [['report', 'registration'], ['report', 'resets']]) {
    const t = await timeOne(args, configFile, cwd);
    say(`  ${t.command}: ${t.seconds} s wall, ${t.cpuSeconds} s CPU, peak RSS ${t.peakRssMiB} MiB, ${t.outputLines} lines${t.exitCode ? ` (EXIT ${t.exitCode})` : ''}`);
    out.push(t);
  }
  return out;
}
