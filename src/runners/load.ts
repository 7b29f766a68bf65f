/**
 * The runners this build ships, loaded on first use: the engine is handed this loader, so a
 * command that only reads the queue or the nodes never loads a runner.
 */
import type { RunnerRegistry } from '../core/runner-contract.js';

export const loadRunners = (): Promise<RunnerRegistry> => import('./index.js').then((m) => m.defaultRunners);
