/**
 * Several real server processes (`node src/server.ts`) with one issuer and one database, each on
 * its own port with its own configuration file. An instance can be killed and started again on
 * the same port with the same file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runServer, writeYaml, freePort, type ServerProcess } from './process.ts';

export interface Cluster {
  readonly issuer: string;
  readonly ports: readonly number[];
  /** http://127.0.0.1:<port of instance i> */
  url(i: number): string;
  alive(i: number): boolean;
  process(i: number): ServerProcess;
  /** Everything instance i wrote, over all its lives. */
  output(i: number): string;
  /** Kills instance i (SIGKILL by default) and waits until it is gone. */
  kill(i: number, signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts instance i again with the same configuration file and port. */
  restart(i: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts `count` instances together. `config(port, issuer)` gives each one's configuration; the
 * server section's issuer, host and port are filled in. The issuer is instance 0's URL unless
 * `options.issuer` names another (a reverse proxy in front of them).
 */
export async function startCluster(count: number, config: (port: number, issuer: string) => Record<string, unknown>, options: { issuer?: string } = {}): Promise<Cluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < count; i += 1) {
    let port = await freePort();
    while (ports.includes(port)) port = await freePort();
    ports.push(port);
  }
  const issuer = options.issuer ?? `http://127.0.0.1:${ports[0]}`;
  const files = ports.map((_p, i) => path.join(dir, `instance-${i}.yaml`));
  for (const [i, port] of ports.entries()) {
    const value = config(port, issuer);
    const server = (value.server ?? {}) as Record<string, unknown>;
    await writeYaml(files[i]!, { ...value, server: { ...server, issuer, host: '127.0.0.1', port } });
  }
  const servers: (ServerProcess | undefined)[] = ports.map(() => undefined);
  const previous: string[] = ports.map(() => '');
  const start = async (i: number) => {
    // A port given up by a killed process can take a moment to be free again: retry a few times.
    for (let attempt = 1; ; attempt += 1) {
      const server = runServer(['--config', files[i]!]);
      servers[i] = server;
      try {
        await server.waitFor(/listening on port/, 120_000); // a bound against a hang: under load a start took over 30 s
        return;
      } catch (error) {
        previous[i] += server.output();
        await server.stop('SIGKILL');
        if (attempt >= 5 || !/EADDRINUSE|cannot listen/.test(server.output())) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  };

  const cluster: Cluster = {
    issuer,
    ports,
    url: (i) => `http://127.0.0.1:${ports[i]}`,
    alive: (i) => {
      const s = servers[i];
      return s !== undefined && s.child.exitCode === null && s.child.signalCode === null;
    },
    process: (i) => {
      const s = servers[i];
      if (!s) throw new Error(`instance ${i} is not running`);
      return s;
    },
    output: (i) => previous[i]! + (servers[i]?.output() ?? ''),
    async kill(i, signal = 'SIGKILL') {
      const s = servers[i];
      if (!s) return null;
      const code = await s.stop(signal);
      previous[i] += s.output();
      servers[i] = undefined;
      return code;
    },
    async restart(i) {
      if (cluster.alive(i)) throw new Error(`instance ${i} is still running`);
      await start(i);
    },
    async close() {
      await Promise.all(servers.map((s) => s?.stop('SIGTERM')));
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    // Together, on a possibly empty database: they race for migrations and keys, as in production.
    await Promise.all(ports.map((_p, i) => start(i)));
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}
