import test from 'ava';
import net from 'node:net';
import { mkdtemp, rm, mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { runServer, writeYaml, freePort, ROOT } from './helpers/process.ts';
import { freshDatabase } from './helpers/db.ts';
import { defaultClients, testArgon2, RP_REDIRECT } from './helpers/idp.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'oidc-sspr-server-'));
}

test('without config/idp.yaml it starts from the example, says so, creates ./data, and runs on Node 22 quietly', async (t) => {
  const dir = await tempDir();
  const port = await freePort();
  await mkdir(path.join(dir, 'config'));
  const example = parse(await readFile(path.join(ROOT, 'config/idp.example.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  example.server = { ...example.server, port, issuer: `http://127.0.0.1:${port}` };
  await writeFile(path.join(dir, 'config/idp.example.yaml'), stringify(example));
  const server = runServer([], { cwd: dir, env: { IDP_CONFIG: '' } });
  try {
    await server.waitFor(/listening on port/);
    t.regex(server.output(), /example configuration/);
    t.notRegex(server.output(), /Unsupported runtime/);
    await access(path.join(dir, 'data/oidc-sspr.sqlite'));
    const meta = (await (await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`)).json()) as { issuer: string };
    t.is(meta.issuer, `http://127.0.0.1:${port}`);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    t.is(health.status, 200);
  } finally {
    t.is(await server.stop(), 0);
    await rm(dir, { recursive: true, force: true });
  }
});

test('a bad configuration file never starts a server: non-zero exit naming the key path', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'bad.yaml');
  await writeFile(file, 'server:\n  port: 99999\n  issuer: not a url\nclients:\n  - clientId: x\n    redirectUri: http://a/cb\n');
  const server = runServer(['--config', file]);
  const code = await server.exited;
  t.is(code, 2);
  t.regex(server.output(), /server\.port/);
  t.regex(server.output(), /server\.issuer/);
  t.regex(server.output(), /clients\.0\.redirectUri/);
  t.regex(server.output(), /not started/);
  t.notRegex(server.output(), /\n\s+at /, 'no stack trace');

  const missing = runServer(['--config', path.join(dir, 'nope.yaml')]);
  t.is(await missing.exited, 2);
  t.regex(missing.output(), /file not found/);
  await rm(dir, { recursive: true, force: true });
});

test('SIGTERM: stops accepting, finishes the request in flight, closes the database, exits 0', async (t) => {
  const dir = await tempDir();
  const db = await freshDatabase();
  const port = await freePort();
  const file = path.join(dir, 'idp.yaml');
  // The grace period only bounds a hang here: at its 10 s default, a loaded machine could end it
  // (closing the connection unanswered) before the test sends the rest of the body.
  await writeYaml(file, { server: { port, host: '127.0.0.1', issuer: `http://127.0.0.1:${port}`, shutdownGraceSeconds: 120 }, database: db.config, passwords: { argon2: testArgon2 } });
  const server = runServer(['--config', file]);
  try {
    await server.waitFor(/listening on port/);
    // A request whose body is still arriving when the signal comes.
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const body = 'username=a&password=b';
    // Expect: 100-continue makes the server say when it holds the request: from then on it is in
    // flight (a fixed pause could send the signal before the server saw the connection).
    socket.write(
      `POST /interaction/abc/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    );
    let response = '';
    let accepted!: () => void;
    const inFlight = new Promise<void>((resolve) => (accepted = resolve));
    socket.on('data', (d) => {
      response += d.toString();
      if (/^HTTP\/1\.1 100 /.test(response)) accepted();
    });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await inFlight;
    response = '';
    socket.write('username=');
    server.child.kill('SIGTERM');
    await server.waitFor(/shutting down/);
    // New connections are refused while the old one is being served.
    await t.throwsAsync(fetch(`http://127.0.0.1:${port}/healthz`));
    socket.write(body.slice('username='.length));
    await closed;
    t.regex(response, /^HTTP\/1\.1 400/, 'the in-flight request got its answer');
    t.is(await server.exited, 0);
    t.regex(server.output(), /"msg":"stopped"/);
  } finally {
    await server.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    await db.cleanup();
  }
});

test('edits to the YAML apply live (the log level too); a bad edit keeps the last good configuration; restart-only keys are reported', async (t) => {
  const dir = await tempDir();
  const db = await freshDatabase();
  const port = await freePort();
  const file = path.join(dir, 'idp.yaml');
  const base = {
    server: { port, host: '127.0.0.1', issuer: `http://127.0.0.1:${port}` },
    database: db.config,
    passwords: { argon2: testArgon2 },
    ui: { organisation: 'Before Org' },
    clients: [defaultClients[0]],
  };
  await writeYaml(file, base);
  const server = runServer(['--config', file]);
  const authorize = (clientId: string) =>
    fetch(`http://127.0.0.1:${port}/auth?client_id=${clientId}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(RP_REDIRECT)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`, { redirect: 'manual' });
  try {
    await server.waitFor(/listening on port/);
    t.is((await authorize('public-app')).status, 400, 'not a client yet');

    await writeYaml(file, { ...base, ui: { organisation: 'After Org' }, clients: [defaultClients[0], defaultClients[2]] });
    await server.waitFor(/configuration reloaded/);
    t.is((await authorize('public-app')).status, 303, 'the new client works without a restart');
    const page = await (await fetch(`http://127.0.0.1:${port}/nowhere`, { headers: { Accept: 'text/html' } })).text();
    t.regex(page, /After Org/, 'texts change live');

    await writeFile(file, 'server:\n  port: [\n');
    await server.waitFor(/configuration edit rejected/);
    t.is((await authorize('public-app')).status, 303, 'the last good configuration stays in force');

    await writeYaml(file, { ...base, clients: [defaultClients[0], { clientId: 'x', redirectUris: ['not a url'] }] });
    await server.waitFor(/clients\.1\.redirectUris\.0/);
    t.is((await authorize('public-app')).status, 303);

    await writeYaml(file, { ...base, server: { ...base.server, port: port + 1 }, clients: [defaultClients[0], defaultClients[2]] });
    await server.waitFor(/only after a restart: server\.port/);
    t.is((await authorize('public-app')).status, 303, 'still serving on the old port');

    // The log level follows the file; the secrets key waits for a restart, and says so.
    t.notRegex(server.output(), /"msg":"request"/, 'no request lines at info');
    await writeYaml(file, { ...base, logging: { level: 'debug' }, sspr: { secretsKey: 'A'.repeat(43) }, clients: [defaultClients[0], defaultClients[2]] });
    await server.waitFor(/only after a restart: sspr\.secretsKey"/);
    await authorize('public-app');
    await server.waitFor(/"level":20,[^\n]*"msg":"request"/);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
    await db.cleanup();
  }
});
