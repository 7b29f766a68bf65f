import { act, defineBehavior, durationOption, toxic, z } from '../src/proxy/plugin.js';

/** Toxiproxy's `timeout`: drops the stream's data, then closes after `timeout` ms (0: never, a black hole). */
export default defineBehavior({
  name: 'timeout',
  description: 'Drops data; closes the connection after timeout ms (0 = never).',
  options: z.object({
    timeout: durationOption().default(0),
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onExchange: (ctx, o) => toxic(ctx, o.toxicity, act.drop(o.stream, o.timeout)),
});
