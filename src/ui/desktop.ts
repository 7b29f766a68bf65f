/**
 * The desktop around the terminal: opening a report in the user's browser, and copying text to
 * the clipboard through the terminal (OSC 52, which tmux, kitty, iTerm2, WezTerm... accept and
 * which works over SSH).
 */
import { spawn } from 'node:child_process';

/** The opener for this platform: $BROWSER when set (a command, no shell), else open / xdg-open. */
function opener(): string {
  const browser = process.env.BROWSER?.split(':')[0]?.trim();
  if (browser) return browser;
  return process.platform === 'darwin' ? 'open' : 'xdg-open';
}

/** Resolves once the opener took the file (or still runs after a moment, as a browser may). */
export function openInBrowser(file: string): Promise<void> {
  const cmd = opener();
  return new Promise((resolve, reject) => {
    // No shell: the path goes to the opener as one argument whatever it holds.
    const child = spawn(cmd, [file], { stdio: 'ignore', detached: true });
    const settle = setTimeout(() => {
      child.unref();
      resolve();
    }, 3000);
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(settle);
      reject(new Error(e.code === 'ENOENT' ? `cannot open a browser: no \`${cmd}\` on this machine (install xdg-utils or set BROWSER); the report is ${file} (y copies its path)` : `cannot run ${cmd}: ${e.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(settle);
      if (code === 0) resolve();
      // xdg-open exits 3 when it finds no browser (an SSH session, a server): say what to set.
      else reject(new Error(`${cmd} could not open the report (exit ${code}${code === 3 && cmd.endsWith('xdg-open') ? ': no browser found' : ''}): set BROWSER to your browser's command, e.g. BROWSER=firefox; the report is ${file} (y copies its path)`));
    });
  });
}

/** The OSC 52 sequence that asks the terminal to put `text` on the clipboard. */
export function osc52(text: string): string {
  return `\x1b]52;c;${Buffer.from(text, 'utf8').toString('base64')}\x07`;
}
