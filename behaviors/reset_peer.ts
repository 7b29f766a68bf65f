import { act, defineBehavior, durationOption, toxic, z } from '../src/proxy/plugin.js';

/** Toxiproxy's `reset_peer`: drops the data, then resets the connection (RST) after `timeout` ms. */
export default defineBehavior({
  name: 'reset_peer',
  description: 'Resets the connection (TCP RST) after timeout ms.',
  options: z.object({
    timeout: durationOption().default(0),
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onExchange: (ctx, o) => toxic(ctx, o.toxicity, act.reset(o.timeout)),
});
