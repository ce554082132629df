import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Browser } from './helpers/browser.ts';
import { freePort, NODE, ROOT } from './helpers/process.ts';
import { codeIn } from './helpers/register.ts';
import { slapdInstalled, userDn } from './helpers/slapd.ts';
import { DirectoryClient } from '../src/directory/client.ts';
import { parseConfig } from '../src/config/load.ts';

// `npm run demo`: the IdP with its demo users and a relying party, each case visible.

test('the demo signs a user in to its relying party, interrupts the unregistered one, and shows each refusal', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'oidc-sspr-demo-'));
  const idpPort = await freePort();
  let rpPort = await freePort();
  while (rpPort === idpPort) rpPort = await freePort(); // a port just released may be handed out again
  const child = spawn(NODE, [path.join(ROOT, 'src/demo/index.ts')], {
    cwd: ROOT,
    env: { ...process.env, DEMO_IDP_PORT: String(idpPort), DEMO_RP_PORT: String(rpPort), DEMO_DATA: path.join(dir, 'demo.sqlite'), DEMO_CAPTCHA: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exited: string | undefined;
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
  // A liveness bound, not a performance claim: a loaded CI machine may take a while to start it.
  const waitFor = async (pattern: RegExp, seconds = 90) => {
    const until = Date.now() + seconds * 1000;
    while (!pattern.test(output) && !exited && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    if (!pattern.test(output)) throw new Error(`demo output lacks ${pattern} (${exited ?? `still running after ${seconds} s`}):\n${output}`);
  };
  try {
    await waitFor(/Codes sent by email/);
    t.regex(output, /outsider/);
    const rp = `http://localhost:${rpPort}`;

    const browser = new Browser();
    const home = await browser.navigate(`${rp}/`);
    t.regex(home.html, /Sign in/);
    const login = await browser.follow(home, '/login');
    t.regex(login.html, /name="password"/);
    const back = await browser.submit(login, '/login', { username: 'ready', password: 'demo password 2026' });
    t.is(back.status, 200);
    t.regex(back.html, /preferred_username/);
    t.regex(back.html, /&#34;ready&#34;/);

    const newbie = new Browser();
    const form = await newbie.follow(await newbie.navigate(`${rp}/`), '/login');
    const interrupted = await newbie.submit(form, '/login', { username: 'newbie', password: 'demo password 2026' });
    t.regex(interrupted.html, /lose access to your account/);

    for (const [user, code] of [['outsider', 'SSPR_NOT_ENABLED'], ['newbie', 'SSPR_NOT_REGISTERED'], ['onprem', 'SSPR_ONPREM_MANAGED']]) {
      const b = new Browser();
      const start = await b.navigate(`http://localhost:${idpPort}/reset`);
      const refused = await b.submit(start, '/reset', { username: user! });
      t.regex(refused.html, new RegExp(code!), user);
    }

    // The code for a reset is printed by the demo, since it has no mail server.
    const b = new Browser();
    const flow = await b.submit(await b.navigate(`http://localhost:${idpPort}/reset`), '/reset', { username: 'ready' });
    const codePage = await b.submit(flow, '/reset/flow/method', { method: 'email' });
    await waitFor(/email to rita\.private@example\.net/);
    const printed = output.slice(output.indexOf('email to rita.private@example.net'));
    const passwordPage = await b.submit(codePage, '/reset/flow/answer', { code: codeIn(printed) });
    t.regex(passwordPage.html, /Choose a new password/);

    // The administrator needs two methods: the emailed code, then a text to the mobile phone.
    const a = new Browser();
    const adminFlow = await a.submit(await a.navigate(`http://localhost:${idpPort}/reset`), '/reset', { username: 'admin' });
    t.regex(adminFlow.html, /Step 1 of 2/);
    const adminCode = await a.submit(adminFlow, '/reset/flow/method', { method: 'email' });
    await waitFor(/email to ada\.private@example\.net/);
    const step2 = await a.submit(adminCode, '/reset/flow/answer', { code: codeIn(output.slice(output.indexOf('email to ada.private@example.net'))) });
    t.regex(step2.html, /Step 2 of 2/);
    const numberPage = await a.submit(step2, '/reset/flow/method', { method: 'mobilePhone' });
    const textPage = await a.submit(numberPage, '/reset/flow/answer', { number: '+31 6 12345678', channel: 'sms' });
    await waitFor(/sms to \+31612345678/);
    const adminPassword = await a.submit(textPage, '/reset/flow/answer', { code: codeIn(output.slice(output.indexOf('sms to +31612345678'))) });
    t.regex(adminPassword.html, /Choose a new password/);

    // The directory user: with slapd installed its reset writes back to a real directory; without, the demo says so.
    if (!slapdInstalled()) {
      t.regex(output, /No directory user: slapd is not installed/);
    } else {
      const url = /dirk\s+in the directory \(a real slapd at (ldap:\/\/127\.0\.0\.1:\d+)\)/.exec(output)?.[1];
      t.truthy(url, output);
      const d = new Browser();
      const dirkFlow = await d.submit(await d.navigate(`http://localhost:${idpPort}/reset`), '/reset', { username: 'dirk' });
      const dirkCode = await d.submit(dirkFlow, '/reset/flow/method', { method: 'email' });
      await waitFor(/email to dirk\.private@example\.net/);
      const dirkPassword = await d.submit(dirkCode, '/reset/flow/answer', { code: codeIn(output.slice(output.indexOf('email to dirk.private@example.net'))) });
      const dirkDone = await d.submit(dirkPassword, '/reset/flow/password', { password: 'lichen harbour quartz', confirm: 'lichen harbour quartz' });
      t.regex(dirkDone.html, /Your password has been reset/);
      // Read back from the demo's slapd itself: the directory has the new password.
      const client = new DirectoryClient(parseConfig({ directory: { url: url!, bindDn: 'cn=x,dc=example,dc=org', bindPassword: 'x', baseDn: 'dc=example,dc=org' } }).directory!);
      t.true(await client.verifyPassword(userDn('dirk'), 'lichen harbour quartz'));
      const dirkLogin = new Browser();
      const dirkForm = await dirkLogin.follow(await dirkLogin.navigate(`${rp}/`), '/login');
      const signedIn = await dirkLogin.submit(dirkForm, '/login', { username: 'dirk', password: 'lichen harbour quartz' });
      t.regex(signedIn.html, /&#34;dirk&#34;/);
    }
  } finally {
    if (!exited) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await rm(dir, { recursive: true, force: true });
  }
});
