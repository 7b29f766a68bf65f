/**
 * How long FunkLoad-style cycles last (builtin, Locust, FunkLoad alike): each starts its users one
 * after another, then records for `duration`; `cycle_time` separates them. Stopping the users
 * comes after and is not counted.
 */
import type { RunLength } from '../config/chaos.js';

/** `ramp`: the seconds a cycle of that many users takes to start them, and how that is said. */
export function cyclesLength(cycles: readonly number[], durationS: number, cycleTimeS: number, ramp: { seconds: (users: number) => number; words: string }): RunLength {
  const rampS = cycles.reduce((s, users) => s + ramp.seconds(users), 0);
  const ms = 1000 * (rampS + cycles.length * durationS + (cycles.length - 1) * cycleTimeS);
  // A ramp of a second or more is part of the length worth naming (FunkLoad's default 0.01 s is not).
  return { ms, why: `${cycles.length} cycle(s) of duration ${durationS}s${cycleTimeS ? `, cycle_time ${cycleTimeS}s` : ''}${rampS >= 1 ? `, ${ramp.words}` : ''}` };
}
