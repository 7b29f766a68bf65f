import { defineBehavior, z } from '../src/proxy/plugin.js';

/**
 * Toxiproxy's `noop` toxic. Not in the built-in list `behaviors` prints (it is `dummy` under
 * another name); the registry takes it so that Toxiproxy clients that add a `noop` toxic keep
 * working, on a job's proxies as on `proxy`'s.
 */
export default defineBehavior({
  name: 'noop',
  description: 'Does nothing (Toxiproxy\'s noop toxic; same as dummy).',
  options: z.object({
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
    toxicity: z.number().min(0).max(1).default(1),
  }),
});
