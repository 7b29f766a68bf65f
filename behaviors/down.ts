import { act, defineBehavior, toxic, z } from '../src/proxy/plugin.js';

/**
 * Toxiproxy's disabled proxy, as a behavior: new connections it is drawn for are refused (reset at
 * once, counted under `down`). When it cannot miss (100 % in a mix, a toxic at toxicity 1) the
 * proxy stops listening, so clients get a real "connection refused" (refusesEveryConnection in
 * src/proxy/listener.ts decides it).
 */
export default defineBehavior({
  name: 'down',
  description: 'Refuses new connections (at 100 %: the listener is closed).',
  options: z.object({
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onConnection: (ctx, o) => toxic(ctx, o.toxicity, act.reset()),
});
