import { act, defineBehavior, toxic, z, type ConnectionContext, type SharedLink } from '../src/proxy/plugin.js';

/**
 * Toxiproxy's `bandwidth`: at most `rate` KB/s. Unlike Toxiproxy, rate 0 is refused rather than
 * stalling forever, and `scope: proxy` makes it the rate of the proxy's whole link, which its
 * connections share (Toxiproxy #190: a saturated link to the database, not a slow connection).
 */
export default defineBehavior({
  name: 'bandwidth',
  description: 'Limits the stream to rate KB/s, per connection or (scope: proxy) shared by all the connections.',
  options: z.object({
    rate: z.number().positive().default(100),
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
    scope: z.enum(['connection', 'proxy']).default('connection'),
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onExchange: (ctx, o) => toxic(ctx, o.toxicity, act.throttle(o.rate * 1000, o.stream, o.scope === 'proxy' ? link(ctx) : undefined)),
});

/** The proxy's link, one per bandwidth toxic or mix entry. */
function link(ctx: ConnectionContext): SharedLink {
  let l = ctx.state.get('link') as SharedLink | undefined;
  if (!l) ctx.state.set('link', (l = { busyUntil: 0 }));
  return l;
}
