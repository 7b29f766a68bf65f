/**
 * Per-node figures of a run spread over several nodes: which node sent how many requests, how
 * many failed and how fast they were, so a report names its nodes and a skewed node shows.
 */
import { Histogram } from '../stats/histogram.js';
import { count } from '../text/count.js';

/** Past this many node names, samples count under "other" (a hostile file cannot grow memory). */
const MAX_NODES = 100;

export interface NodeSummary {
  node: string;
  requests: number;
  success: number;
  /** Failed requests / requests, 0..1. */
  errorRate: number;
  /** Milliseconds, of all its requests. */
  avg: number;
  p95: number;
  /** The node was lost mid-run (connection gone, agent killed): when, and why. Its counts stop there. */
  lost?: { at: number; reason: string };
}

export class NodeTally {
  private readonly nodes = new Map<string, { requests: number; success: number; hist: Histogram; lost?: { at: number; reason: string } }>();

  private entry(node: string) {
    const name = this.nodes.has(node) || this.nodes.size < MAX_NODES ? node : 'other';
    let n = this.nodes.get(name);
    if (!n) {
      n = { requests: 0, success: 0, hist: new Histogram() };
      this.nodes.set(name, n);
    }
    return n;
  }

  add(node: string, durationMs: number, ok: boolean): void {
    const n = this.entry(node);
    n.requests++;
    if (ok) n.success++;
    n.hist.record(Math.round(durationMs * 1000));
  }

  /** A node lost mid-run: listed even when none of its samples could be fetched. */
  lost(node: string, at: number, reason: string): void {
    this.entry(node).lost ??= { at, reason };
  }

  /** `latency`: the run's own percentile definition, so node and run figures agree. */
  summary(latency: (h: Histogram) => { avg: number; p95: number }): NodeSummary[] {
    return [...this.nodes.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([node, n]) => {
        const l = latency(n.hist);
        return { node, requests: n.requests, success: n.success, errorRate: n.requests ? (n.requests - n.success) / n.requests : 0, avg: l.avg, p95: l.p95, ...(n.lost ? { lost: { ...n.lost } } : {}) };
      });
  }
}

/** One line per node, for logs, JUnit and the report: "a1: 239 requests, 0.00 % errors, p95 12.0ms". */
export function nodeLine(n: NodeSummary): string {
  return `${n.node}: ${count(n.requests, 'request')}, ${(n.errorRate * 100).toFixed(2)} % errors, avg ${n.avg.toFixed(1)}ms, p95 ${n.p95.toFixed(1)}ms${n.lost ? `; ${lostLine(n.lost)}` : ''}`;
}

/** "node lost at 2026-12-02T03:10:04.512Z: <reason>", the same words in every report. */
export function lostLine(lost: { at: number; reason: string }): string {
  return `node lost at ${new Date(lost.at).toISOString()}: ${lost.reason}`;
}
