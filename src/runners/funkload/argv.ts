/**
 * The command lines of FunkLoad's tools, as argv (pure; research note §2.2, §2.5).
 * Values go as `--option=value` words: the executor quotes each word, and a value can never be
 * read as another option.
 */

export interface BenchArgs {
  script: string;
  /** ClassName.method_name */
  test: string;
  cycles?: readonly number[];
  /** Seconds per cycle (FunkLoad takes an int). */
  duration?: number;
  startupDelay?: number;
  sleepTime?: number;
  sleepTimeMin?: number;
  sleepTimeMax?: number;
  url?: string;
}

/** Seconds as FunkLoad reads them (Python float()/int() of the string). */
export function secondsArg(s: number): string {
  return String(Number(s.toFixed(6)));
}

export function flRunBenchArgv(a: BenchArgs, program = 'fl-run-bench'): string[] {
  const argv = [program];
  const opt = (name: string, v: string | undefined) => {
    if (v !== undefined) argv.push(`--${name}=${v}`);
  };
  opt('cycles', a.cycles?.length ? a.cycles.join(':') : undefined);
  opt('duration', a.duration === undefined ? undefined : String(Math.round(a.duration)));
  opt('startup-delay', a.startupDelay === undefined ? undefined : secondsArg(a.startupDelay));
  opt('test-sleep-time', a.sleepTime === undefined ? undefined : secondsArg(a.sleepTime));
  opt('sleep-time-min', a.sleepTimeMin === undefined ? undefined : secondsArg(a.sleepTimeMin));
  opt('sleep-time-max', a.sleepTimeMax === undefined ? undefined : secondsArg(a.sleepTimeMax));
  opt('url', a.url);
  // Plain `.`/`F`/`E`: the console is parsed, not looked at.
  argv.push('--no-color');
  argv.push(a.script, a.test);
  return argv;
}

/** `fl-build-report --html` into an exact directory; several files are merged by FunkLoad first. */
export function flBuildReportArgv(o: { files: readonly string[]; reportDir: string; apdexT: number }, program = 'fl-build-report'): string[] {
  return [program, '--html', '--skip-definitions', `--apdex-T=${secondsArg(o.apdexT)}`, `--report-directory=${o.reportDir}`, ...o.files];
}

/** A password in a URL (`http://user:secret@host`) becomes `***`, for logs and reports. */
export function maskUrlPasswords(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi, '$1***@');
}
