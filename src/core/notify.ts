/**
 * The optional webhook when a job ends: one POST of a JSON summary. It must never fail or stall
 * the job: a timeout bounds it and any failure becomes a log line.
 */
import type { Job } from './jobs.js';

export interface JobReport {
  job: Readonly<Job>;
  summary: string;
  resultDir: string;
  report?: string;
}

export function webhookPayload(r: JobReport): Record<string, unknown> {
  const j = r.job;
  return {
    event: 'job.finished',
    job: {
      id: j.id,
      name: j.name,
      status: j.status,
      reason: j.reason,
      failure: j.failure,
      exit_code: j.exitCode,
      runner: j.runner,
      nodes: j.nodesTaken,
      enqueued_at: iso(j.enqueuedAt),
      started_at: iso(j.startedAt),
      ended_at: iso(j.endedAt),
      wait_ms: j.startedAt === undefined ? undefined : j.startedAt - j.enqueuedAt,
      duration_ms: j.durationMs,
    },
    summary: r.summary,
    result_dir: r.resultDir,
    report: r.report,
  };
}

/** POST the summary; resolves with an error message instead of throwing. */
export async function postWebhook(url: string, r: JobReport, timeoutMs: number): Promise<string | undefined> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'marteau-tui' },
      body: JSON.stringify(webhookPayload(r)),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 300) return `webhook ${redact(url)} answered HTTP ${res.status}`;
    return undefined;
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
    return `webhook ${redact(url)} failed: ${why}`;
  }
}

/** Webhook URLs often carry a token in the path or query: log the origin only. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(webhook)';
  }
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}
