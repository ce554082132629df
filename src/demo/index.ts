#!/usr/bin/env node
/**
 * `npm run demo`: the IdP on SQLite with demo users (one per case the README describes) and a small
 * relying party with a sign-in button. Codes go to the outbox and are printed here, so every case
 * can be tried in a minute without a mail server or SMS gateway.
 */
import http from 'node:http';
import { parseConfig } from '../config/load.ts';
import { createIdp } from '../app.ts';
import { createLogger } from '../logging.ts';
import { DuplicateError } from '../store/users.ts';
import { startDemoRp } from './rp.ts';
import { slapdInstalled, startSlapd, BASE_DN, SERVICE_DN, SERVICE_PASSWORD, SLAPD, type TestSlapd } from './slapd.ts';

const IDP_PORT = Number(process.env.DEMO_IDP_PORT ?? 3000);
const RP_PORT = Number(process.env.DEMO_RP_PORT ?? 3001);
const DATA = process.env.DEMO_DATA ?? './data/demo.sqlite';
const PASSWORD = 'demo password 2026';
const SECRET = 'demo-app-secret-0123456789';

/** The demo users: each shows one case. */
export const demoUsers = [
  { username: 'ready', name: 'Rita Ready', groups: ['Staff'], email: 'rita@example.org', methods: { email: 'rita.private@example.net' }, about: 'registered: can reset her password with an emailed code' },
  { username: 'newbie', name: 'Nick Newbie', groups: ['Staff'], email: 'nick@example.org', methods: {}, about: 'not registered: is interrupted at sign-in; "Can\'t access your account?" says SSPR_NOT_REGISTERED' },
  { username: 'outsider', name: 'Olga Outsider', groups: [], email: 'olga@example.org', methods: { email: 'olga.private@example.net' }, about: 'out of scope (not in Staff): never interrupted; reset says SSPR_NOT_ENABLED' },
  { username: 'onprem', name: 'Otto Onprem', groups: ['Staff'], email: 'otto@example.org', methods: { email: 'otto.private@example.net' }, source: 'onpremises' as const, about: 'password managed on-premises: reset says SSPR_ONPREM_MANAGED' },
  { username: 'admin', name: 'Ada Admin', groups: ['Staff', 'Admins'], email: 'ada@example.org', methods: { email: 'ada.private@example.net', mobile_phone: '+31612345678' }, about: 'administrator: needs two methods at reset (email, then mobile phone +31 6 12345678)' },
];

/** The directory user, when slapd is installed: a real OpenLDAP (ppolicy) the reset writes back to. */
export const directoryUser = { username: 'dirk', name: 'Dirk Directory', password: 'dirk directory pw 1', email: 'dirk.private@example.net' };

/** The demo's slapd, stopped on every way out (it is a process of its own). */
let directoryServer: TestSlapd | undefined;

async function main(): Promise<void> {
  process.stdout.write(`oidc-sspr demo: starting (data in ${DATA})\n`);
  // With slapd installed, a directory of one user in Staff; the demo's 'onprem' user stays a local
  // on-premises account the directory doesn't know (refused with SSPR_ONPREM_MANAGED).
  const slapd: TestSlapd | undefined = slapdInstalled()
    ? await startSlapd({ users: [{ uid: directoryUser.username, cn: directoryUser.name, mail: 'dirk@example.org', password: directoryUser.password }], groups: [{ cn: 'Staff', members: [directoryUser.username] }] })
    : undefined;
  directoryServer = slapd;
  const config = parseConfig({
    ...(slapd
      ? { directory: { url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PASSWORD, baseDn: `ou=people,${BASE_DN}`, groupBaseDn: `ou=groups,${BASE_DN}`, mode: 'writable', syncIntervalMinutes: 0 } }
      : {}),
    server: { issuer: `http://localhost:${IDP_PORT}`, port: IDP_PORT },
    database: { client: 'sqlite', filename: DATA },
    logging: { level: 'warn' },
    ui: { organisation: 'Demo Organisation' },
    clients: [
      { clientId: 'demo-app', clientName: 'Demo application', clientSecret: SECRET, redirectUris: [`http://localhost:${RP_PORT}/callback`], postLogoutRedirectUris: [`http://localhost:${RP_PORT}/`], firstParty: true },
    ],
    sspr: {
      enabled: 'selected',
      groups: ['Staff'],
      methodsRequired: 1,
      methods: { email: true, mobilePhone: true, authenticatorApp: true, securityQuestions: true },
      administrators: { groups: ['Admins'] },
      registration: { requireOnSignIn: true, reconfirmAfterDays: 180 },
      captcha: { enabled: process.env.DEMO_CAPTCHA !== 'off' },
      codes: { resendAfterSeconds: 5 },
      onPremises: { passwordWriteback: slapd !== undefined },
    },
    delivery: { mail: { transport: 'outbox', from: 'Demo Organisation <no-reply@example.org>' }, phone: { transport: 'outbox' } },
  });
  const idp = await createIdp(config, { logger: createLogger('warn') });
  const { users, store } = idp.parts;
  if (idp.parts.directory) {
    await idp.parts.directory.settled(); // the sync at start created dirk
    const dirk = await users.find(directoryUser.username);
    if (!dirk) throw new Error('the directory sync did not create the directory user');
    if (!(await store.sspr.methods(dirk.id)).some((m) => m.kind === 'email')) {
      await store.sspr.putMethod(dirk.id, 'email', directoryUser.email, Date.now());
      await store.sspr.recordConfirmation(dirk.id, Date.now());
    }
  }
  for (const u of demoUsers) {
    try {
      await users.create({ username: u.username, displayName: u.name, email: u.email, password: PASSWORD, passwordSource: u.source ?? 'cloud' });
    } catch (error) {
      if (!(error instanceof DuplicateError)) throw error;
      continue; // seeded on an earlier run: keep whatever the user did since
    }
    const user = (await users.find(u.username))!;
    for (const g of u.groups) await users.addToGroup(u.username, g);
    for (const [kind, value] of Object.entries(u.methods)) await store.sspr.putMethod(user.id, kind as 'email', value, Date.now());
    if (Object.keys(u.methods).length) await store.sspr.recordConfirmation(user.id, Date.now());
  }

  const server = http.createServer(idp.app.callback());
  await new Promise<void>((resolve) => server.listen(IDP_PORT, resolve));
  const rp = await startDemoRp({ issuer: config.server.issuer, port: RP_PORT, clientId: 'demo-app', clientSecret: SECRET });

  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(`\noidc-sspr demo`);
  out(`  identity provider:   http://localhost:${IDP_PORT}  (security info: /security-info, reset: /reset)`);
  out(`  demo application:    http://localhost:${RP_PORT}`);
  out(`  every user's password: ${PASSWORD}`);
  for (const u of demoUsers) out(`  - ${u.username.padEnd(9)} ${u.about}`);
  if (slapd) {
    out(`  - ${directoryUser.username.padEnd(9)} in the directory (a real slapd at ${slapd.url}), password "${directoryUser.password}": signs in by a bind; a reset writes the new password back to the directory`);
  } else {
    out(`  No directory user: slapd is not installed (${SLAPD}); apt-get install slapd ldap-utils to get one whose reset writes back to a real directory.`);
  }
  out(`  Codes sent by email, text or call are printed below as they are sent.\n`);

  // Print new outbox messages: the demo has no mail server or phone gateway.
  let seen = 0;
  const first = await store.outbox.latest({}, 1);
  seen = first[0]?.id ?? 0;
  const timer = setInterval(async () => {
    const latest = (await store.outbox.latest({}, 20)).filter((m) => m.id > seen).reverse();
    for (const m of latest) {
      seen = m.id;
      out(`--- ${m.channel} to ${m.recipient}${m.subject ? `: ${m.subject}` : ''}\n${m.body}\n`);
    }
  }, 500);

  const stop = async () => {
    clearInterval(timer);
    await rp.close();
    server.close();
    await idp.close();
    await slapd?.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`demo failed to start: ${(error as Error).message}\n`);
  await directoryServer?.stop().catch(() => {});
  process.exit(1);
});
