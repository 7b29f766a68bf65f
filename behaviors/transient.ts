import { act, defineBehavior, z } from '../src/proxy/plugin.js';

/** Vaurien's `transient`: the first `agitate` exchanges of the proxy fail, every later one passes. */
export default defineBehavior({
  name: 'transient',
  description: 'Fails the first `agitate` exchanges (like error), then passes for good.',
  options: z.object({
    agitate: z.number().int().min(0).default(1),
    kind: z.string().optional(),
    inject: z.boolean().default(false),
  }),
  onExchange: (ctx, o) => {
    const seen = (ctx.state.get('seen') as number | undefined) ?? 0;
    ctx.state.set('seen', seen + 1);
    if (seen >= o.agitate) return act.forward();
    return o.inject ? act.corrupt(100) : act.error(o.kind);
  },
});
