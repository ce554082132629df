/**
 * The directory tests run Debian's OpenLDAP slapd (with the ppolicy overlay) and its ldap-utils as
 * processes of their own. Run before the tests (`npm test` and `.ci/run`), like ensure-chromium:
 * when slapd is missing it is installed from Debian's packages if this process may (root with
 * apt-get); otherwise it says what to install. SLAPD_PATH points at another slapd.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const wanted = [process.env.SLAPD_PATH ?? '/usr/sbin/slapd', '/usr/sbin/slapadd', '/usr/sbin/slaptest', '/usr/bin/ldapmodify', '/usr/lib/ldap/ppolicy.so'];
const say = (line: string) => process.stderr.write(`ensure-slapd: ${line}\n`);
const missing = () => wanted.filter((file) => !existsSync(file));

function aptInstall(): boolean {
  // Debian's slapd asks for a domain when installed; noninteractive takes its defaults (its own
  // database is never used: the tests start slapd with a configuration of their own).
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'slapd', 'ldap-utils'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  if (install()) return true;
  say('apt-get install failed; updating the package lists and trying once more');
  return spawnSync('apt-get', ['update'], { stdio: 'inherit' }).status === 0 && install();
}

if (missing().length === 0) process.exit(0);
if (process.env.SLAPD_PATH && !existsSync(process.env.SLAPD_PATH)) {
  say(`SLAPD_PATH is ${process.env.SLAPD_PATH}, and there is no such file`);
  process.exit(1);
}
const root = process.getuid?.() === 0;
const apt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (!root || !apt) {
  say(`missing ${missing().join(', ')}: install Debian's packages (sudo apt-get install slapd ldap-utils)`);
  process.exit(1);
}
say(`missing ${missing().join(', ')}: installing Debian's packages slapd and ldap-utils`);
if (!aptInstall() || missing().length > 0) {
  say(`could not install slapd and ldap-utils (still missing: ${missing().join(', ')})`);
  process.exit(1);
}
