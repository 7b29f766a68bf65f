import { act, defineBehavior, durationOption, toxic, z } from '../src/proxy/plugin.js';

/** Toxiproxy's `latency`: `latency` ms ± uniform `jitter` ms on the chosen stream. */
export default defineBehavior({
  name: 'latency',
  description: 'Adds latency ms (± jitter ms) to the reply (stream: downstream) or the request (upstream).',
  options: z.object({
    latency: durationOption().default(0),
    jitter: durationOption().default(0),
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onExchange: (ctx, o) => {
    const ms = Math.max(0, o.latency + (ctx.random() * 2 - 1) * o.jitter);
    return toxic(ctx, o.toxicity, act.delay(ms, o.stream));
  },
});
