/** The fault kinds of a resilience sweep, alone so that the CLI's help names them without loading the sweep's schema. */
export const SWEEP_KINDS = ['down', 'slow', 'errors', 'process'] as const;
export type SweepKind = (typeof SWEEP_KINDS)[number];
