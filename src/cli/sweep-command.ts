/**
 * `marteau-tui sweep [project]`: the project's job with `chaos: sweep` (whatever its `chaos:`
 * says), run here to completion like `--ci`, its report opening with the resilience matrix.
 * The command's settings are written into the job's config snapshot, so `replay` runs the same
 * sweep again; `--seed` fixes the order of the steps (default: a new seed, printed).
 */
import { parseDocument } from 'yaml';
import { SWEEP_KINDS, type SweepOptionsInput } from '../config/sweep.js';
import { durationSchema } from '../config/units.js';
import { EXIT, UsageError } from '../core/exit.js';
import { closest } from '../text/closest.js';

export interface SweepCommandOptions {
  ci?: boolean;
  seed?: string;
  only?: string;
  faults?: string;
  step?: string;
  gap?: string;
  lead?: string;
  slow?: string;
}

/** The sweep options the flags give, checked (a bad flag is a usage error, not a config error). */
export function sweepFlags(o: SweepCommandOptions): { options: SweepOptionsInput; seed?: string } {
  const options: SweepOptionsInput = {};
  for (const k of ['step', 'gap', 'lead', 'slow'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (!durationSchema.safeParse(v).success) throw new UsageError(`--${k}: expected a duration such as 3s or 500ms, got "${v}"`);
    options[k] = v;
  }
  const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
  if (o.only !== undefined) options.only = list(o.only);
  if (o.faults !== undefined) {
    const kinds = list(o.faults);
    const bad = kinds.find((k) => !(SWEEP_KINDS as readonly string[]).includes(k));
    const near = bad === undefined ? undefined : closest(bad, SWEEP_KINDS);
    const known = near ? `; did you mean "${near}"? (kinds: ${SWEEP_KINDS.join(', ')})` : `; kinds: ${SWEEP_KINDS.join(', ')}`;
    if (bad !== undefined || !kinds.length) throw new UsageError(`--faults: ${bad === undefined ? 'empty' : `unknown kind "${bad}"`}${known}`);
    options.faults = kinds as SweepOptionsInput['faults'];
  }
  if (o.seed !== undefined && !/^[\w.-]{1,64}$/.test(o.seed)) throw new UsageError('--seed: a number or a word (letters, digits, _ . -)');
  return { options, seed: o.seed };
}

/** The config text with `chaos: {sweep: ...}` (the file's own sweep options, then the flags) and the seed. */
export function sweepConfigText(text: string, flags: ReturnType<typeof sweepFlags>): string {
  const doc = parseDocument(text);
  const chaos = doc.toJS()?.chaos as unknown;
  const own = chaos && typeof chaos === 'object' && !Array.isArray(chaos) && 'sweep' in chaos ? ((chaos as { sweep: SweepOptionsInput | null }).sweep ?? {}) : {};
  doc.set('chaos', doc.createNode({ sweep: { ...own, ...flags.options } }));
  if (flags.seed !== undefined) doc.set('seed', /^\d{1,15}$/.test(flags.seed) ? Number(flags.seed) : flags.seed);
  return String(doc);
}

/** Without --ci a failing cell is a finding shown in the matrix, not a failed command. */
export function sweepExitCode(code: number, ci: boolean | undefined): number {
  return !ci && code === EXIT.failed ? EXIT.ok : code;
}
