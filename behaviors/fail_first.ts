import { act, checkErrorKind, defineBehavior, errorKindOption, z } from '../src/proxy/plugin.js';

/**
 * "Fail the first N exchanges of each connection, then recover": a server that refuses clients
 * until they have retried enough (warming up, LOADING, a pool refilling). Counted per connection
 * from when the behavior came into force, so connections already open are hit too. Use it at
 * 100 % (`100:fail_first`): the count covers only the exchanges it is drawn for.
 */
export default defineBehavior({
  name: 'fail_first',
  description: 'Fails the first `exchanges` exchanges of each connection (like error), then passes on that connection.',
  options: z.object({
    exchanges: z.number().int().min(1).default(1),
    kind: errorKindOption(),
  }),
  onExchange: (ctx, o) => {
    let seen = ctx.state.get('seen') as Map<number, number> | undefined;
    if (!seen) ctx.state.set('seen', (seen = new Map()));
    const n = seen.get(ctx.connectionId) ?? 0;
    // A request the server would serve in that state (HELLO to a loading redis) is not one of the N.
    if (n >= o.exchanges || !ctx.refuses(o.kind)) return act.forward();
    seen.set(ctx.connectionId, n + 1);
    return act.error(o.kind);
  },
  check: (o, protocol) => checkErrorKind(o.kind, protocol),
});
