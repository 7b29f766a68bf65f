/**
 * Our /marteau routes (native.ts) as a client: how a control center sets the mix of a proxy that
 * another process runs, through the control API of that proxy's job.
 */
import type { MixEntrySpec, MixSpec } from '../mix.js';

/** The proxy as its API describes it after the change (what nativeJson gives). */
export interface MixSet {
  mix: string;
  mixOptions: Record<string, MixEntrySpec>;
}

const TIMEOUT_MS = 5000;

/** PUT /marteau/proxies/{proxy}/mix; rejects with the API's own words, or why it did not answer. */
export async function putMix(api: string, token: string, proxy: string, mix: MixSpec): Promise<MixSet> {
  const url = `${api}/marteau/proxies/${encodeURIComponent(proxy)}/mix`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ mix }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new Error(`${api} did not answer (${cause})`);
  }
  const body = (await res.json().catch(() => undefined)) as (MixSet & { error?: string }) | undefined;
  if (!res.ok || !body || typeof body.mix !== 'string') throw new Error(`${api} answered ${res.status}: ${body?.error ?? res.statusText}`);
  return body;
}
