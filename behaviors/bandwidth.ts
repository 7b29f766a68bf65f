import { act, defineBehavior, toxic, z } from '../src/proxy/plugin.js';

/** Toxiproxy's `bandwidth`: at most `rate` KB/s. Unlike Toxiproxy, rate 0 is refused rather than stalling forever. */
export default defineBehavior({
  name: 'bandwidth',
  description: 'Limits the stream to rate KB/s.',
  options: z.object({
    rate: z.number().positive().default(100),
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onExchange: (ctx, o) => toxic(ctx, o.toxicity, act.throttle(o.rate * 1000, o.stream)),
});
