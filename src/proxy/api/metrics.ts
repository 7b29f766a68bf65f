/**
 * Toxiproxy's `/metrics` route: its proxy byte counters in the Prometheus text format, built with
 * prom-client. Names and labels are Toxiproxy's (`toxiproxy_proxy_received_bytes_total` and
 * `toxiproxy_proxy_sent_bytes_total`, labelled direction, proxy, listener, upstream), so its
 * dashboards and alerts work unchanged. The values are read at scrape time, so they include
 * connections still open (Toxiproxy adds a connection's bytes only when it ends).
 */
import { Counter, Registry } from 'prom-client';
import type { Control } from './control.js';
import type { Route } from './http.js';

// In Go's client_golang output order (sorted), so lines read exactly as Toxiproxy's.
const LABELS = ['direction', 'listener', 'proxy', 'upstream'] as const;
const DIRECTIONS = ['upstream', 'downstream'] as const;

export function metricsRoutes(control: Control): Route[] {
  const registry = new Registry();
  const counter = (name: string, help: string, read: (p: ReturnType<Control['list']>[number]) => { upstream: number; downstream: number }) =>
    new Counter({
      name,
      help,
      labelNames: LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const p of control.list()) {
          const bytes = read(p);
          for (const direction of DIRECTIONS) {
            this.inc({ direction, listener: control.shownListen(p), proxy: p.name, upstream: p.upstream }, bytes[direction]);
          }
        }
      },
    });
  counter('toxiproxy_proxy_received_bytes_total', 'Bytes a proxy read, per direction (upstream: from clients, downstream: from the server).', (p) => p.stats().bytes);
  counter('toxiproxy_proxy_sent_bytes_total', 'Bytes a proxy wrote, per direction (upstream: to the server, downstream: to clients).', (p) => p.sentBytes());
  return [{
    methods: ['GET'],
    pattern: '/metrics',
    handler: async () => ({ status: 200, text: await registry.metrics(), headers: { 'Content-Type': registry.contentType } }),
  }];
}
