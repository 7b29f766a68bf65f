import { act, defineBehavior, durationOption, z } from '../src/proxy/plugin.js';

/** Vaurien's `delay`: sleep before the request goes on (or before the reply comes back). */
export default defineBehavior({
  name: 'delay',
  description: 'Waits `sleep` seconds before forwarding the request (or, with before: false, the reply).',
  options: z.object({
    sleep: durationOption(1000).default(1),
    before: z.boolean().default(true),
  }),
  onExchange: (_ctx, o) => wait(o),
  fixed: (o) => wait(o),
});

function wait(o: { sleep: number; before: boolean }) {
  return act.delay(o.sleep * 1000, o.before ? 'upstream' : 'downstream');
}
