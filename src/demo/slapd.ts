/**
 * A real OpenLDAP slapd (Debian's package) as a process of its own, for the tests
 * (test/helpers/slapd.ts re-exports this) and `npm run demo`: a cn=config (slapd.d, converted
 * from a generated slapd.conf by slaptest) and an mdb database in a temp dir, the ppolicy overlay
 * with a default policy, a seeded tree, a free loopback port. `kill()` ends it at once (SIGKILL) for
 * the fault tests; `stop()` ends it and removes the directory.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.ts';

export const SLAPD = process.env.SLAPD_PATH ?? '/usr/sbin/slapd';
export const SLAPADD = '/usr/sbin/slapadd';
export const SLAPTEST = '/usr/sbin/slaptest';
export const BASE_DN = 'dc=example,dc=org';
export const PEOPLE = `ou=people,${BASE_DN}`;
export const GROUPS = `ou=groups,${BASE_DN}`;
export const SERVICE_DN = `cn=sspr,ou=services,${BASE_DN}`;
export const SERVICE_PASSWORD = 'service account secret';
export const ADMIN_DN = `cn=admin,${BASE_DN}`;
export const ADMIN_PASSWORD = randomBytes(12).toString('base64url');

/** True when slapd and its tools are installed (test/support/ensure-debian.ts installs them). */
export const slapdInstalled = () => existsSync(SLAPD) && existsSync(SLAPADD) && existsSync(SLAPTEST);

export interface SeedUser {
  uid: string;
  cn: string;
  sn?: string;
  mail?: string;
  mobile?: string;
  telephoneNumber?: string;
  password: string;
}

export interface SeedGroup {
  cn: string;
  members: string[];
}

/** The default tree: one user with non-ASCII values, one without mail, a group for SSPR and one for administrators. */
export const seedUsers: SeedUser[] = [
  { uid: 'alice', cn: 'Alice Directory', sn: 'Directory', mail: 'alice@example.org', mobile: '+31 6 11111111', telephoneNumber: '+31 20 1234567', password: 'alice directory pw 1' },
  { uid: 'bob', cn: 'Bob Admin', sn: 'Admin', mail: 'bob@example.org', mobile: '+31 6 22222222', password: 'bob directory pw 1' },
  { uid: 'zoë', cn: 'Zoë Ærøskøbing-Müller', sn: 'Müller', mail: 'zoe@example.org', password: 'zoë directory pw 1' },
  { uid: 'nomail', cn: 'No Mail', sn: 'Mail', password: 'nomail directory pw 1' },
];
export const seedGroups: SeedGroup[] = [
  { cn: 'Staff', members: ['alice', 'bob', 'zoë', 'nomail'] },
  { cn: 'IT Admins', members: ['bob'] },
];

export const userDn = (uid: string) => `uid=${uid},${PEOPLE}`;

/** {SSHA} as slapd stores it, so seeded passwords are hashed like changed ones. */
export function ssha(password: string): string {
  const salt = randomBytes(8);
  return `{SSHA}${Buffer.concat([createHash('sha1').update(password).update(salt).digest(), salt]).toString('base64')}`;
}

/** LDIF lines; values that are not plain ASCII are base64 (`attr:: ...`), as LDIF requires. */
function attr(name: string, value: string): string {
  return /^[\x20-\x7e]*$/.test(value) && !/^[ :<]/.test(value) ? `${name}: ${value}` : `${name}:: ${Buffer.from(value).toString('base64')}`;
}

export function userLdif(u: SeedUser): string {
  return [
    attr('dn', userDn(u.uid)),
    'objectClass: inetOrgPerson',
    attr('uid', u.uid),
    attr('cn', u.cn),
    attr('sn', u.sn ?? u.cn),
    ...(u.mail ? [attr('mail', u.mail)] : []),
    ...(u.mobile ? [attr('mobile', u.mobile)] : []),
    ...(u.telephoneNumber ? [attr('telephoneNumber', u.telephoneNumber)] : []),
    attr('userPassword', ssha(u.password)),
  ].join('\n');
}

export function groupLdif(g: SeedGroup): string {
  const members = g.members.length ? g.members.map((m) => attr('member', userDn(m))) : [attr('member', '')];
  return [attr('dn', `cn=${g.cn},${GROUPS}`), 'objectClass: groupOfNames', attr('cn', g.cn), ...members].join('\n');
}

function baseLdif(): string {
  return [
    `dn: ${BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example`,
    `dn: ou=people,${BASE_DN}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=groups,${BASE_DN}\nobjectClass: organizationalUnit\nou: groups`,
    `dn: ou=empty,${BASE_DN}\nobjectClass: organizationalUnit\nou: empty`,
    `dn: ou=services,${BASE_DN}\nobjectClass: organizationalUnit\nou: services`,
    `dn: ${SERVICE_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: sspr\nuserPassword: ${ssha(SERVICE_PASSWORD)}`,
    `dn: ou=policies,${BASE_DN}\nobjectClass: organizationalUnit\nou: policies`,
    // History of 3, at least 10 characters (quality checked), 3 failures lock until an administrator unlocks.
    `dn: cn=default,ou=policies,${BASE_DN}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdInHistory: 3\npwdMinLength: 10\npwdCheckQuality: 2\npwdLockout: TRUE\npwdMaxFailure: 3\npwdLockoutDuration: 0`,
  ].join('\n\n');
}

function slapdConf(dir: string, serviceSizeLimit: boolean): string {
  return `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile ${dir}/slapd.pid
sizelimit 500
database mdb
maxsize 4294967296
suffix "${BASE_DN}"
rootdn "${ADMIN_DN}"
rootpw ${ADMIN_PASSWORD}
directory ${dir}/data
index objectClass eq
index uid eq
index member eq
${serviceSizeLimit ? '' : `limits dn.exact="${SERVICE_DN}" size=unlimited\n`}overlay ppolicy
ppolicy_default "cn=default,ou=policies,${BASE_DN}"
ppolicy_use_lockout
ppolicy_hash_cleartext
access to dn.subtree="${PEOPLE}" attrs=userPassword by dn.exact="${SERVICE_DN}" write by self write by anonymous auth by * none
access to dn.subtree="${PEOPLE}" by dn.exact="${SERVICE_DN}" manage by self read by * none
access to attrs=userPassword by self read by anonymous auth by * none
access to * by dn.exact="${SERVICE_DN}" read by users read by * none
`;
}

export interface TestSlapd {
  url: string;
  port: number;
  dir: string;
  pid: number;
  /** SIGKILL now (a crash in the middle of an operation); resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: connections are still accepted by the kernel but nothing answers (kill() still ends it). */
  pause(): void;
  /** Starts it again on the same port and data (after kill()). */
  restart(): Promise<void>;
  /** Runs an LDIF change as the rootdn with ldapmodify (tests change the tree with it). */
  modify(ldif: string): void;
  /** ldapsearch as the rootdn; the LDIF text. */
  search(base: string, filter: string, ...attrs: string[]): string;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], input?: string): string {
  const result = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${result.status}): ${result.stderr}${result.stdout}`);
  return result.stdout;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`slapd exited: ${output()}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface SlapdOptions {
  users?: SeedUser[];
  groups?: SeedGroup[];
  /** Extra LDIF appended to the seed (loaded by slapadd before the start). */
  extraLdif?: string;
  /**
   * Keep the global size limit (500) for the service account too: then a paged search over more
   * entries fails with sizeLimitExceeded. By default the service account has no size limit, as
   * the README asks of a directory the IdP syncs.
   */
  serviceSizeLimit?: boolean;
}

export async function startSlapd(options: SlapdOptions = {}): Promise<TestSlapd> {
  if (!slapdInstalled()) throw new Error(`slapd is not installed at ${SLAPD}: apt-get install slapd ldap-utils (test/support/ensure-debian.ts)`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'oidc-sspr-slapd-'));
  await mkdir(path.join(dir, 'data'));
  await mkdir(path.join(dir, 'slapd.d'));
  await writeFile(path.join(dir, 'slapd.conf'), slapdConf(dir, options.serviceSizeLimit ?? false));
  // slaptest converts slapd.conf into cn=config (slapd.d); it then tries to open the still empty
  // database read-only and says so, which doesn't matter: the converted configuration is checked next.
  spawnSync(SLAPTEST, ['-f', path.join(dir, 'slapd.conf'), '-F', path.join(dir, 'slapd.d')], { encoding: 'utf8' });
  run(SLAPTEST, ['-u', '-F', path.join(dir, 'slapd.d')]);
  const seed = [baseLdif(), ...(options.users ?? seedUsers).map(userLdif), ...(options.groups ?? seedGroups).map(groupLdif), ...(options.extraLdif ? [options.extraLdif] : [])].join('\n\n') + '\n';
  await writeFile(path.join(dir, 'seed.ldif'), seed);
  run(SLAPADD, ['-q', '-F', path.join(dir, 'slapd.d'), '-n', '1', '-l', path.join(dir, 'seed.ldif')]);
  let port = 0;
  let url = '';
  let child!: ChildProcess;
  let out = '';
  const launch = async () => {
    out = '';
    child = spawn(SLAPD, ['-F', path.join(dir, 'slapd.d'), '-h', `${url}/`, '-d', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    await waitForPort(port, child, () => out);
  };
  // A port freePort found free can be taken by another process before slapd binds it: slapd then
  // exits at once, and the first start tries another port (restarts keep the port they had).
  for (let attempt = 1; ; attempt += 1) {
    port = await freePort();
    url = `ldap://127.0.0.1:${port}`;
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
  const gone = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  };
  const ldapArgs = ['-x', '-H', url, '-D', ADMIN_DN, '-w', ADMIN_PASSWORD];
  return {
    url,
    port,
    dir,
    get pid() {
      return child.pid!;
    },
    kill: gone,
    pause: () => void child.kill('SIGSTOP'),
    restart: launch,
    modify: (ldif) => void run('ldapmodify', [...ldapArgs, '-c'], ldif),
    search: (base, filter, ...attrs) => run('ldapsearch', [...ldapArgs, '-LLL', '-o', 'ldif-wrap=no', '-b', base, filter, ...attrs]),
    async stop() {
      await gone();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
