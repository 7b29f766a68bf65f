/**
 * What the engine needs to read configs and run jobs: the config schemas (zod, yaml), the
 * behaviors, the proxy and its API, services and chaos players. Loaded on first use
 * (`Engine.kit()`), so commands that only look at the queue or the nodes start without them.
 */
import { defaultRegistry } from '../../behaviors/index.js';

export { errorAt, parseYaml } from '../config/errors.js';
export { loadMarteauConfig, parseMarteauConfig, withPlugins } from '../config/marteau.js';
export { projectConfigFiles } from '../config/project-files.js';
export { recoveryScheduleWarnings } from '../config/recovery.js';
export { proxyVars } from '../config/services.js';
export { splitHostPort } from '../proxy/host-port.js';
export { ProxySet } from '../proxy/proxy-set.js';
export { Control } from '../proxy/api/control.js';
export { ApiConfigError, startApiServer } from '../proxy/api/server.js';
export { packageVersion } from '../proxy/api/version.js';
export { ChaosPlayer } from './chaos-player.js';
export { scenarioRoutes } from './scenario-route.js';
export { ServiceFaultPlayer } from './service-faults.js';
export { ServiceSet } from './services.js';
export { compileSchedule } from './schedule.js';
export { cloneGit, gitProjectName, parseGitTarget } from './source.js';

export const defaults = { behaviors: defaultRegistry };
