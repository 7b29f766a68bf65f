import { act, defineBehavior, durationOption, toxic, z } from '../src/proxy/plugin.js';

/** Toxiproxy's `slow_close`: a close from one side reaches the other `delay` ms late. */
export default defineBehavior({
  name: 'slow_close',
  description: 'Delays passing a connection close on by delay ms.',
  options: z.object({
    delay: durationOption().default(0),
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onConnection: (ctx, o) => toxic(ctx, o.toxicity, act.slowClose(o.delay)),
  onExchange: (ctx, o) => toxic(ctx, o.toxicity, act.slowClose(o.delay)),
});
