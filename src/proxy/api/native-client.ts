/**
 * Our /marteau routes (native.ts, and a job's scenario route) as a client: how a control center
 * sets the mix of a proxy that another process runs, or pauses its scenario, through the control
 * API of that proxy's job.
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
  const set = (await put(api, token, `${encodeURIComponent(proxy)}/mix`, { mix })) as MixSet;
  if (typeof set.mix !== 'string') throw new Error(`${api} answered no mix`);
  return set;
}

/** PUT /marteau/proxies/{proxy}/scenario: its scenario paused, or following its schedule again. */
export async function putScenario(api: string, token: string, proxy: string, paused: boolean): Promise<void> {
  await put(api, token, `${encodeURIComponent(proxy)}/scenario`, { paused });
}

async function put(api: string, token: string, route: string, body: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${api}/marteau/proxies/${route}`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new Error(`${api} did not answer (${cause})`);
  }
  const answer = (await res.json().catch(() => undefined)) as { error?: string } | undefined;
  if (!res.ok || !answer) throw new Error(`${api} answered ${res.status}: ${answer?.error ?? res.statusText}`);
  return answer;
}
