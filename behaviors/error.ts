import { act, checkErrorKind, defineBehavior, errorKindOption, z } from '../src/proxy/plugin.js';

/**
 * Vaurien's `error`, made protocol-correct: the client gets its protocol's own error (HTTP 503,
 * Redis -LOADING, a MySQL ERR packet, ...). `warmup` lets the first N exchanges of the proxy pass.
 * `inject: true` keeps Vaurien's other mode: the real reply with random bytes spliced in.
 */
export default defineBehavior({
  name: 'error',
  description: "Answers with the protocol's own error (kind: e.g. 503, LOADING, 1205, 57P01, 421).",
  options: z.object({
    kind: errorKindOption(),
    /** Our own text in place of the kind's canned one (e.g. Redis `-ERR <message>`, an HTTP body). */
    message: z.string().optional(),
    warmup: z.number().int().min(0).default(0),
    inject: z.boolean().default(false),
  }),
  onExchange: (ctx, o) => {
    if (o.warmup > 0) {
      const seen = (ctx.state.get('seen') as number | undefined) ?? 0;
      ctx.state.set('seen', seen + 1);
      if (seen < o.warmup) return act.forward();
    }
    return answer(o);
  },
  // Without a warmup to count, every exchange gets the same answer.
  fixed: (o) => (o.warmup > 0 ? undefined : answer(o)),
  check: (o, protocol) => checkErrorKind(o.kind, protocol),
});

function answer(o: { kind?: string; message?: string; inject: boolean }) {
  return o.inject ? act.corrupt(100) : act.error(o.kind, o.message);
}
