/**
 * Locust's own distributed mode, for a job on several nodes: one `locust --master` on the engine's
 * machine, one `locust --worker` per node reaching it. Locust splits the users between its
 * workers, merges their stats on the master and stops them at the end; the master's plugin
 * prints the merged progress and writes the CSV files (plugin.ts).
 *
 * The master binds one address the nodes reach (`master_host`, loopback by default), never all
 * interfaces: its port takes commands from anyone who reaches it.
 */
import net from 'node:net';

/** A port free on `host` now (Locust binds it a moment later; a clash fails the cycle clearly). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface MasterAddress {
  host: string;
  port: number;
}

/** Seconds the master waits for its workers to connect before it gives up (SSH logins can be slow). */
const EXPECT_WORKERS_MAX_WAIT_S = 120;

/** What makes a headless locust the master of `workers` workers. */
export function masterArgs(at: MasterAddress, workers: number): string[] {
  return [
    '--master',
    '--master-bind-host',
    at.host,
    '--master-bind-port',
    String(at.port),
    '--expect-workers',
    String(workers),
    '--expect-workers-max-wait',
    String(EXPECT_WORKERS_MAX_WAIT_S),
  ];
}

/** What makes a locust a worker of the master at `at`; `--reset-stats` must be on both sides. */
export function workerArgs(at: MasterAddress): string[] {
  return ['--worker', '--master-host', at.host, '--master-port', String(at.port), '--reset-stats'];
}
