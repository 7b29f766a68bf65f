/**
 * The real FunkLoad 1.17.2 vendored beside the clone (../shared/vendor, see its README), run by
 * pyenv's Python 2.7. Under CI=true a missing tree or interpreter is a failure, elsewhere a skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const VENDOR = new URL('../../../shared/vendor/', import.meta.url).pathname;
export const VENDOR_BIN = `${VENDOR}bin`;

export interface RealFunkload {
  /** The directory holding fl-run-bench, fl-build-report, fl-python. */
  bin: string;
  /** The Python 2.7 interpreter fl-python found (for sessions whose HOME has no pyenv: FL_PYTHON). */
  python: string;
}

let found: RealFunkload | undefined | null = null;

export function realFunkload(): RealFunkload | undefined {
  if (found !== null) return found;
  let why = `no ${VENDOR_BIN}/fl-run-bench`;
  found = undefined;
  if (existsSync(`${VENDOR_BIN}/fl-run-bench`)) {
    try {
      const python = execFileSync(`${VENDOR_BIN}/fl-python`, ['-c', 'import sys, funkload, webunit; print(sys.executable)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
      found = { bin: VENDOR_BIN, python };
    } catch (e) {
      why = `fl-python fails: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`;
    }
  }
  if (!found && process.env.CI === 'true') throw new Error(`the real FunkLoad is not runnable but CI=true (${why}): lay shared/vendor beside the clone and install Python 2.7 (pyenv install 2.7.18)`);
  return found;
}

/** A bench of one GET of `/home`, in the layout FunkLoad's own examples use. */
export const SIMPLE_LOADTEST = `from funkload.FunkLoadTestCase import FunkLoadTestCase


class Simple(FunkLoadTestCase):
    def test_simple(self):
        self.get(self.conf_get('main', 'url') + '/home', description='Get home')
`;

/** Simple.conf for a test class `Simple` on `url`: cycles 1 and 2 users, `duration` seconds each. */
export const simpleConf = (url: string, duration: number) =>
  `[main]\ntitle=Simple\ndescription=Simply testing a local app\nurl=${url}\n\n[test_simple]\ndescription=Get home\n\n[bench]\ncycles = 1:2\nduration = ${duration}\nstartup_delay = 0.01\nsleep_time = 0.05\ncycle_time = 0\nlog_to =\nlog_path = simple-bench.log\nresult_path = simple-bench.xml\nsleep_time_min = 0\nsleep_time_max = 0.05\n`;

/**
 * The environment of an sshd's sessions that run the vendored FunkLoad: they get their own HOME,
 * without pyenv, so fl-python is told its Python.
 */
export const funkloadSessionEnv = (fl: RealFunkload): Record<string, string> => ({ FL_PYTHON: fl.python, PATH: '/usr/local/bin:/usr/bin:/bin' });
