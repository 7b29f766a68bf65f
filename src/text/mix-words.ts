/**
 * A mix as a person reads it. The canonical text of a mix that injects nothing is Vaurien's
 * `100:dummy`, which parses back and which Vaurien's clients and configs send; to a reader it
 * is jargon for "nothing happens", so every status line, log, timeline and report says
 * `pass-through` instead. Data (events, stats, the APIs) keeps the canonical text.
 */

/** Texts of a mix that injects nothing: none at all, Vaurien's `dummy`, Toxiproxy's `noop`, or these words. */
const PASS_THROUGH = /^(?:|pass-through|none|(?:100:)?(?:dummy|noop))$/;

export function isPassThrough(mix: string): boolean {
  return PASS_THROUGH.test(mix.trim());
}

/** `pass-through` for a mix that injects nothing (toxics after it kept: `pass-through +latency`), else the mix. */
export function mixWords(mix: string): string {
  const [head, ...toxics] = mix.split(' +');
  return isPassThrough(head) ? ['pass-through', ...toxics].join(' +') : mix;
}
