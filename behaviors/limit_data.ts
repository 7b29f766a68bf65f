import { act, defineBehavior, toxic, z } from '../src/proxy/plugin.js';

/** Toxiproxy's `limit_data`: lets `bytes` more bytes through on the stream, then closes the connection. */
export default defineBehavior({
  name: 'limit_data',
  description: 'Closes the connection after bytes bytes have gone through on the stream.',
  options: z.object({
    bytes: z.number().int().min(0).default(0),
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onConnection: (ctx, o) => toxic(ctx, o.toxicity, act.limit(o.bytes, o.stream)),
  onExchange: (ctx, o) => toxic(ctx, o.toxicity, act.limit(o.bytes, o.stream)),
});
