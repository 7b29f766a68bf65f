import { defineBehavior, z } from '../src/proxy/plugin.js';

/** Vaurien's `dummy`: transparent pass-through (the remainder of every mix). */
export default defineBehavior({
  name: 'dummy',
  description: 'Pass-through: the request and its reply go untouched.',
  options: z.object({}),
});
