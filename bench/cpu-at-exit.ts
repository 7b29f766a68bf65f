/**
 * Preloaded by bench:cli (`node --import`) into the process it times: at exit, appends the
 * process's CPU time (user + system, µs) to the file named by BENCH_CPU_FILE. CPU time, unlike
 * wall time, hardly changes with other load on the machine.
 */
import { appendFileSync } from 'node:fs';

process.on('exit', () => {
  const u = process.cpuUsage();
  appendFileSync(process.env.BENCH_CPU_FILE!, `${u.user + u.system}\n`);
});
