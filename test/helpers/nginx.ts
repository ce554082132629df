/**
 * A real nginx (Debian's package) as a reverse proxy on a free loopback port, in front of one or more
 * upstream instances. It appends the client address to X-Forwarded-For ($proxy_add_x_forwarded_for),
 * as a proxy in front of the IdP does in production, and passes the Host header through. With several
 * upstreams it balances round-robin and moves a request to the next upstream when one refuses the
 * connection (an instance that was stopped). Its config, pid and logs live in a temp dir removed by
 * close(). `test/support/ensure-debian.ts` installs the package when it is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import net from 'node:net';
import { freePort } from './process.ts';

export const NGINX = process.env.NGINX_PATH ?? '/usr/sbin/nginx';

export function nginxAvailable(): boolean {
  return existsSync(NGINX);
}

export interface Upstream {
  host?: string;
  port: number;
}

export interface Nginx {
  readonly port: number;
  readonly url: string;
  /** Everything nginx wrote to its error log (stderr) so far. */
  output(): string;
  close(): Promise<void>;
}

export interface NginxOptions {
  /** Extra directives inside `location /` (e.g. a header nginx sets itself). */
  locationExtra?: string;
  /** The loopback port to listen on (chosen beforehand, e.g. to be the issuer's); a free one by default. */
  port?: number;
}

function config(dir: string, port: number, upstreams: Upstream[], options: NginxOptions): string {
  const servers = upstreams.map((u) => `    server ${u.host ?? '127.0.0.1'}:${u.port} max_fails=1 fail_timeout=2s;`).join('\n');
  const root = process.getuid?.() === 0;
  return `
${root ? 'user root;' : ''}
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream idp {
${servers}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://idp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_next_upstream error timeout http_502;
      proxy_connect_timeout 5s;
      ${options.locationExtra ?? ''}
    }
  }
}
`;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000; // a liveness bound against hangs, not a performance claim
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited:\n${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startNginx(upstreams: Upstream[], options: NginxOptions = {}): Promise<Nginx> {
  if (!nginxAvailable()) throw new Error(`no nginx at ${NGINX}: install Debian's nginx-light (test/support/ensure-debian.ts)`);
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-nginx-'));
  const port = options.port ?? (await freePort());
  const file = path.join(dir, 'nginx.conf');
  await writeFile(file, config(dir, port, upstreams, options));
  const check = spawnSync(NGINX, ['-t', '-q', '-p', dir, '-e', 'stderr', '-c', file], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx config refused:\n${check.stderr}`);
  const child = spawn(NGINX, ['-p', dir, '-e', 'stderr', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = once(child, 'exit');
  await waitForPort(port, child, () => out);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGQUIT');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
