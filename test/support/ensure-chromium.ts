/**
 * The browser suite drives Debian's Chromium through playwright-core, which downloads no browser of
 * its own. Run before the tests (`npm test` and `.ci/run`): when Chromium is missing it is installed
 * from Debian's packages if this process may (root with apt-get); otherwise it says what to do.
 * CHROMIUM_PATH points at another Chromium.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const wanted = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const say = (line: string) => process.stderr.write(`ensure-chromium: ${line}\n`);

function aptInstall(): boolean {
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  if (install()) return true;
  say('apt-get install failed; updating the package lists and trying once more');
  return spawnSync('apt-get', ['update'], { stdio: 'inherit' }).status === 0 && install();
}

if (existsSync(wanted)) process.exit(0);
if (process.env.CHROMIUM_PATH) {
  say(`CHROMIUM_PATH is ${wanted}, and there is no such file`);
  process.exit(1);
}
const root = process.getuid?.() === 0;
const apt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (!root || !apt) {
  say(`no Chromium at ${wanted}: install Debian's package (sudo apt-get install chromium) or set CHROMIUM_PATH`);
  process.exit(1);
}
say(`no Chromium at ${wanted}: installing Debian's package chromium`);
if (!aptInstall() || !existsSync(wanted)) {
  say('could not install chromium');
  process.exit(1);
}
