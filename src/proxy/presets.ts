/**
 * Named mixes for one-key changes in the TUI (0-9) and the API: from normal through degraded,
 * flaky and down to blackout.
 */
import type { MixSpec } from './mix.js';

export interface Preset {
  key: string;
  name: string;
  description: string;
  mix: MixSpec;
}

export const PRESETS: readonly Preset[] = [
  { key: '0', name: 'normal', description: 'everything passes', mix: '' },
  { key: '1', name: 'degraded', description: '30 % of replies 200 ± 50 ms late', mix: { latency: { percent: 30, latency: 200, jitter: 50 } } },
  { key: '2', name: 'slow', description: 'half the requests wait 500 ms', mix: { delay: { percent: 50, sleep: 0.5 } } },
  { key: '3', name: 'flaky', description: '10 % errors, 5 % dropped connections', mix: { error: 10, blackout: 5 } },
  { key: '4', name: 'erroring', description: 'half the exchanges get the protocol error', mix: { error: 50 } },
  { key: '5', name: 'hanging', description: '20 % of requests never answered', mix: { hang: 20 } },
  { key: '6', name: 'resetting', description: '30 % of connections reset', mix: { reset_peer: 30 } },
  { key: '7', name: 'chaos', description: 'a bit of everything', mix: { delay: { percent: 10, sleep: 0.2 }, error: 10, hang: 5, blackout: 5 } },
  { key: '8', name: 'down', description: 'connections refused (listener closed)', mix: { down: 100 } },
  { key: '9', name: 'blackout', description: 'every connection cut at once', mix: { blackout: 100 } },
];
