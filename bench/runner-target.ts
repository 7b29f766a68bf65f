/** The loopback app of bench:runner, in its own process so it does not share a core's event loop with the load generator. */
import { startLoadApp } from '../fixtures/load/app.js';

const app = await startLoadApp();
process.stdout.write(`${app.port}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
