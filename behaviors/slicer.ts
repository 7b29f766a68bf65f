import { act, defineBehavior, durationOption, toxic, z } from '../src/proxy/plugin.js';

/** Toxiproxy's `slicer`: cuts data into small pieces with a pause (µs, as Toxiproxy) between them. */
export default defineBehavior({
  name: 'slicer',
  description: 'Slices data into average_size (± size_variation) byte pieces, delay µs apart.',
  options: z.object({
    average_size: z.number().int().positive().default(64),
    size_variation: z.number().int().min(0).default(0),
    delay: durationOption(0.001).default(0),
    stream: z.enum(['upstream', 'downstream']).default('downstream'),
    toxicity: z.number().min(0).max(1).default(1),
  }),
  onExchange: (ctx, o) =>
    toxic(ctx, o.toxicity, act.slice(o.average_size, Math.min(o.size_variation, o.average_size - 1), o.delay / 1000, o.stream)),
});
