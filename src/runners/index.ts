/** The runners this build knows. Add a runner here to make it available to configs and the engine. */
import { builtinRunner } from './builtin/runner.js';
import { commandRunner } from './command.js';
import { funkloadRunner } from './funkload/runner.js';
import { locustRunner } from './locust/runner.js';
import { runnerRegistry, type RunnerRegistry } from '../core/runner-contract.js';

export const defaultRunners: RunnerRegistry = runnerRegistry([builtinRunner, funkloadRunner, locustRunner, commandRunner]);
