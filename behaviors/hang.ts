import { act, defineBehavior, z } from '../src/proxy/plugin.js';

/** Vaurien's `hang`: swallows the request and never answers; the client waits for its own timeout. */
export default defineBehavior({
  name: 'hang',
  description: 'Reads and discards the request, never answers.',
  options: z.object({}),
  onExchange: () => act.hang(),
});
