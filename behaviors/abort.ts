import { act, defineBehavior, z } from '../src/proxy/plugin.js';

/** Vaurien's `abort`: the request reaches the server, then both sides are closed before the reply. */
export default defineBehavior({
  name: 'abort',
  description: 'Forwards the request, then closes both sides before the reply.',
  options: z.object({}),
  onExchange: () => act.abort(),
});
