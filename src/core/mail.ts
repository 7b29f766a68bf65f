/**
 * Marteau's `email:`: when a job ends, its recipients get the link to the report by mail over
 * SMTP (settings: `mail:` of marteau.nodes.yml, Marteau's smtp.* and report.*). As in Marteau a
 * mail problem is a log line, never a job failure; a timeout bounds it.
 */
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import nodemailer from 'nodemailer';
import type { MailConfig } from '../config/nodes.js';
import type { JobReport } from './notify.js';

const DEFAULTS: MailConfig = { host: 'localhost', port: 25, timeoutMs: 5000 };

/**
 * The link mailed: the HTML report (the result directory when the runner made none), under
 * `report_url` when the results are served (`<report_url>/<job id>/...`), else as a file:// URL.
 */
export function reportLink(r: Pick<JobReport, 'job' | 'resultDir' | 'report'>, reportUrl?: string): string {
  const target = r.report ?? r.resultDir;
  if (!reportUrl) return pathToFileURL(target).href;
  const rel = path.relative(r.resultDir, target).split(path.sep).filter(Boolean);
  return [reportUrl, r.job.id, ...rel].map((p, i) => (i === 0 ? p : encodeURIComponent(p))).join('/');
}

/** Subject and plain-text body (pure). */
export function reportMail(r: JobReport, link: string): { subject: string; text: string } {
  return {
    subject: `[marteau-tui] ${r.job.name}: ${r.job.status}`,
    text: [
      `The load test "${r.job.name}" (job ${r.job.id}) has ended: ${r.summary}`,
      '',
      `Report: ${link}`,
      '',
      '-- marteau-tui',
      '',
    ].join('\n'),
  };
}

/** Sends the mail; resolves with a problem to log instead of throwing. */
export async function mailReport(to: readonly string[], r: JobReport, settings: MailConfig | undefined): Promise<{ sent?: string; problem?: string }> {
  const s = settings ?? DEFAULTS;
  const password = s.passwordEnv ? process.env[s.passwordEnv] : undefined;
  if (s.passwordEnv && password === undefined) return { problem: `mail not sent: $${s.passwordEnv} (mail.password_env) is not set` };
  const transport = nodemailer.createTransport({
    host: s.host,
    port: s.port,
    secure: s.port === 465,
    auth: s.user ? { user: s.user, pass: password ?? '' } : undefined,
    connectionTimeout: s.timeoutMs,
    greetingTimeout: s.timeoutMs,
    socketTimeout: s.timeoutMs,
  });
  const mail = reportMail(r, reportLink(r, s.reportUrl));
  try {
    await transport.sendMail({ from: s.from ?? `marteau-tui@${os.hostname()}`, to: [...to], ...mail });
    return { sent: `report link mailed to ${to.join(', ')}` };
  } catch (e) {
    // nodemailer's message names the server's answer; it never holds the password.
    return { problem: `mail to ${to.join(', ')} via ${s.host}:${s.port} failed: ${(e as Error).message}` };
  } finally {
    transport.close();
  }
}
