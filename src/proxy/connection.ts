/**
 * One proxied connection: client socket <-> upstream socket, with the protocol framer in the
 * middle. Requests are handled strictly in order (a behavior is drawn for each), replies are
 * delivered to the client in request order, whether they come from the server or are injected.
 * This top layer opens and closes it; the work is done by the layers below it, one job each:
 * connection-requests.ts, connection-faults.ts, connection-hooks.ts, connection-replies.ts,
 * connection-io.ts.
 */
import { draw, type Mix, type MixEntry } from './mix.js';
import { ConnectionRequests } from './connection-requests.js';

export class Connection extends ConnectionRequests {
  /**
   * Draw for the connection itself (pinning, connection-level hooks), then start moving bytes.
   * Data handlers are attached only now, so no exchange starts before the connection draw.
   */
  async accept(mix: Mix): Promise<void> {
    const entry = draw(mix, this.core.random);
    if (this.core.pin === 'connection') this.pinned = entry;
    const sources = [entry, ...this.activeToxics()];
    for (const source of sources) {
      const refusal = this.refusedAtConnect(source);
      if (refusal === undefined) continue;
      this.core.count(source.behavior.name);
      // The upstream closed once the refusal is out: its close would destroy the client's socket, bytes unsent.
      this.client.end(refusal, () => this.server.destroy());
      return;
    }
    for (const source of sources) {
      const hook = source.behavior.onConnection;
      if (!hook) continue;
      const outcome = await this.callHook(source, () => hook(this.connectionContext(source), source.options));
      for (const a of outcome === 'failed' ? [] : outcome) {
        if (a.type === 'reset' || a.type === 'close') {
          // Counted under the behavior (`down`), not in connections.refused: that one counts
          // the refusals at max_connections, the proxy's own guard, not an injected fault.
          this.core.count(source.behavior.name);
          this.client.resetAndDestroy();
          this.destroy();
          return;
        }
        this.applyConnectionAction(a);
      }
    }
    if (this.closed) return;
    const { client, server } = this;
    if (this.clientReads) this.clientReads.start((c) => this.onClientData(c));
    else client.on('data', (c: Buffer) => this.onClientData(c));
    const reads = this.reads;
    if (reads) reads.start((c) => this.onServerData(c));
    else server.on('data', (c: Buffer) => this.onServerData(c));
    client.on('end', () => { this.clientEnded = true; this.maybeEndServer(); });
    server.on('end', () => this.upstreamEnded());
    // Read into a reused buffer, the upstream's bytes (and its end) may have come already.
    if (reads && server.readableEnded) this.upstreamEnded();
    client.on('drain', () => server.resume());
    server.on('drain', () => client.resume());
  }

  /**
   * What the server would send in place of its greeting, when the connection draws an error (a
   * fixed one: `error` without warmup), or a toxic acting on it is one, of a kind refused there
   * (Protocol.connectError).
   */
  private refusedAtConnect(entry: MixEntry): Buffer | undefined {
    const fixed = entry.fixed;
    if (this.protocol.connectError === undefined || fixed?.length !== 1 || fixed[0].type !== 'error') return undefined;
    return this.protocol.connectError(this.errorKind(fixed[0].kind));
  }

  /** Bytes written to the server (upstream) and to the client (downstream) so far. */
  sentBytes(): { upstream: number; downstream: number } {
    return { upstream: this.server.bytesWritten, downstream: this.client.bytesWritten };
  }

  /** In-flight work: exchanges whose reply the client is still waiting for. */
  busy(): boolean {
    const unanswered = this.attributed !== undefined && !this.attributed.replyStarted;
    return this.replies.length > 0 || this.requests.length > 0 || this.current !== undefined || unanswered;
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.heldAtEnd();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.client.destroy();
    this.server.destroy();
    this.requests = [];
    this.replies.clear();
    this.awaiting.clear();
    this.core.connectionClosed(this);
  }
}
