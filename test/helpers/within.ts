/** `p`, or a failure naming `what` once `ms` have passed: a client command that never settles fails its test, not the run. */
export function within<T>(what: string, p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** What a command came to: its value, or its error's message (one that never settles still fails). */
export async function outcome<T>(what: string, p: Promise<T>, ms = 10_000): Promise<{ ok: T } | { err: string }> {
  let settled = false;
  try {
    const ok = await within(what, p.finally(() => { settled = true; }), ms);
    return { ok };
  } catch (e) {
    if (!settled) throw e;
    return { err: (e as Error).message };
  }
}
