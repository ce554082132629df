/**
 * Server processes for the benchmarks: the real `src/server.ts` started as children on loopback
 * ports, stopped (and temp dirs removed) on every exit path of the bench process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const nodeBin = path.join(root, 'node_modules/.bin/node');

const cleanups: Array<() => void> = [];
/** Runs `fn` when the bench exits, whichever way (LIFO). */
export function onExit(fn: () => void): void {
  cleanups.push(fn);
}
export function runCleanups(): void {
  while (cleanups.length) {
    try {
      cleanups.pop()!();
    } catch {
      // best effort: keep cleaning
    }
  }
}
process.on('exit', runCleanups);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping the servers and removing the temp dirs\n`);
    runCleanups();
    process.exit(130);
  });
}

export { freePort } from '../../../src/demo/free-port.ts';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Server {
  child: ChildProcess;
  pid: number;
  /** http://127.0.0.1:<its own port> (the issuer may name another instance). */
  url: string;
  output: () => string;
}

export interface StartOptions {
  cwd: string;
  nodeEnv?: string;
  execArgv?: string[];
}

/** Starts `node src/server.ts --config <file>` and waits until it answers discovery on `port`. */
export async function startServer(configFile: string, port: number, opts: StartOptions): Promise<Server> {
  const env = { ...process.env };
  if (opts.nodeEnv === undefined) delete env.NODE_ENV;
  else env.NODE_ENV = opts.nodeEnv;
  const child = spawn(nodeBin, [...(opts.execArgv ?? []), path.join(root, 'src/server.ts'), '--config', configFile], {
    cwd: opts.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  onExit(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  if (child.pid === undefined) throw new Error('could not start the server');
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`server exited early (code ${code}, signal ${signal}):\n${output}`)));
  });
  exited.catch(() => undefined);
  const ready = (async () => {
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      try {
        const response = await fetch(`${url}/.well-known/openid-configuration`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`server not answering after 60 s:\n${output}`);
  })();
  await Promise.race([ready, exited]);
  return { child, pid: child.pid, url, output: () => output };
}

/** Graceful stop (SIGTERM, so a --cpu-prof profile gets written); SIGKILL after 10 s. */
export async function stopServer(server: Server): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}
