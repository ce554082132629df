/**
 * The suite runs against real programs from Debian's packages: Chromium (the browser suite, driven by
 * playwright-core, which downloads no browser of its own), nginx (a real reverse proxy in front of
 * the IdP) and OpenLDAP's slapd (a real directory). Run before the tests (`npm test` and `.ci/run`):
 * what is missing is installed from Debian's packages if this process may (root with apt-get);
 * otherwise it says what to install. CHROMIUM_PATH, NGINX_PATH and SLAPD_PATH point elsewhere.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

interface Need {
  what: string;
  /** The file that must be there (the first is the one the variable may point elsewhere). */
  file: string;
  also?: string[];
  envVar: string;
  packages: string[];
}

export const needs: Need[] = [
  { what: 'Chromium', file: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', envVar: 'CHROMIUM_PATH', packages: ['chromium'] },
  { what: 'nginx', file: process.env.NGINX_PATH ?? '/usr/sbin/nginx', envVar: 'NGINX_PATH', packages: ['nginx-light'] },
  {
    what: 'slapd',
    file: process.env.SLAPD_PATH ?? '/usr/sbin/slapd',
    also: ['/usr/sbin/slapadd', '/usr/sbin/slaptest', '/usr/bin/ldapmodify', '/usr/lib/ldap/ppolicy.so'],
    envVar: 'SLAPD_PATH',
    packages: ['slapd', 'ldap-utils'],
  },
];

const say = (line: string) => process.stderr.write(`ensure-debian: ${line}\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

function aptInstall(packages: string[]): boolean {
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'inherit', env }).status === 0;
  if (install()) return true;
  say('apt-get install failed; updating the package lists and trying once more');
  return spawnSync('apt-get', ['update'], { stdio: 'inherit' }).status === 0 && install();
}

/** Debian starts the packaged daemons on install; the tests run their own, so the system ones stop. */
function stopSystemDaemons(packages: string[]): void {
  for (const service of ['nginx', 'slapd']) {
    if (packages.some((p) => p.startsWith(service))) spawnSync('service', [service, 'stop'], { stdio: 'ignore' });
  }
}

const present = (n: Need) => [n.file, ...(n.also ?? [])].every((f) => existsSync(f));
const missing = needs.filter((n) => !present(n));
if (missing.length === 0) process.exit(0);
const pointed = missing.filter((n) => process.env[n.envVar] && !existsSync(n.file));
for (const n of pointed) say(`${n.envVar} is ${n.file}, and there is no such file`);
if (pointed.length > 0) process.exit(1);

const packages = missing.flatMap((n) => n.packages);
const root = process.getuid?.() === 0;
const apt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (!root || !apt) {
  for (const n of missing) say(`no ${n.what} at ${n.file}: install Debian's ${n.packages.join(' ')} or set ${n.envVar}`);
  say(`as root: apt-get install ${packages.join(' ')}`);
  process.exit(1);
}
say(`missing ${missing.map((n) => n.what).join(', ')}: installing Debian's ${packages.join(' ')}`);
const installed = aptInstall(packages);
stopSystemDaemons(packages);
const still = missing.filter((n) => !present(n));
if (!installed || still.length > 0) {
  say(`could not install ${still.map((n) => n.packages.join(' ')).join(', ') || packages.join(' ')}`);
  process.exit(1);
}
