import { act, checkErrorKind, defineBehavior, errorKindOption, z } from '../src/proxy/plugin.js';

/**
 * Vaurien's `transient`: after `warmup` passing exchanges (Vaurien's transient inherits error's
 * options), the next `agitate` exchanges of the proxy fail, and every later one passes.
 */
export default defineBehavior({
  name: 'transient',
  description: 'After `warmup` passing exchanges, fails `agitate` exchanges (like error), then passes for good.',
  options: z.object({
    agitate: z.number().int().min(0).default(1),
    warmup: z.number().int().min(0).default(0),
    kind: errorKindOption(),
    inject: z.boolean().default(false),
  }),
  onExchange: (ctx, o) => {
    const seen = (ctx.state.get('seen') as number | undefined) ?? 0;
    const failing = seen >= o.warmup && seen < o.warmup + o.agitate;
    // A request the server would serve in that state (HELLO to a loading redis) is not one of the failures.
    if (failing && !o.inject && !ctx.refuses(o.kind)) return act.forward();
    ctx.state.set('seen', seen + 1);
    if (!failing) return act.forward();
    return o.inject ? act.corrupt(100) : act.error(o.kind);
  },
  check: (o, protocol) => checkErrorKind(o.kind, protocol),
});
