import { act, defineBehavior, z } from '../src/proxy/plugin.js';

/** Vaurien's `blackout`: the client connection is closed at once; nothing reaches the server. */
export default defineBehavior({
  name: 'blackout',
  description: 'Closes the client connection at once; nothing reaches the server.',
  options: z.object({}),
  onExchange: () => act.close(),
});
