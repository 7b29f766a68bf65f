/**
 * statsd pings for every bad thing (Vaurien's promise, with low-cardinality names):
 * a counter `<prefix>.<proxy>.<behavior>` per fault and a timing `<prefix>.<proxy>.exchange`
 * per exchange. Off unless configured.
 */
import StatsDClient, { type StatsD } from 'hot-shots';
import type { Proxy, ProxyEvent } from './proxy.js';

/** The `statsd:` section of a proxies file, defaults filled in. */
export interface StatsdOptions {
  host: string;
  port: number;
  /** Prepended to every metric name with a dot; empty for none. */
  prefix: string;
  sample_rate: number;
}

export class StatsdReporter {
  private readonly client: StatsD;
  private readonly detach: (() => void)[] = [];
  /** The last send failure told: every metric fails the same way, and one line each would flood. */
  private said?: string;

  constructor(config: StatsdOptions, onError: (message: string) => void) {
    this.client = new StatsDClient({
      host: config.host,
      port: config.port,
      prefix: config.prefix ? `${config.prefix}.` : '',
      sampleRate: config.sample_rate,
      protocol: 'udp',
      errorHandler: (err) => {
        const text = `statsd: cannot send to ${config.host}:${config.port}: ${sendFailure(err, config.host)}`;
        if (text === this.said) return;
        this.said = text;
        onError(`${text} (said once; the proxy goes on, its metrics are dropped)`);
      },
    });
  }

  watch(proxy: Proxy): void {
    const listener = (e: ProxyEvent) => {
      if (e.type === 'proxy.fault') this.client.increment(`${e.proxy}.${e.behavior}`);
      else if (e.type === 'proxy.exchange') this.client.timing(`${e.proxy}.exchange`, e.latencyMs);
    };
    proxy.on('event', listener);
    this.detach.push(() => proxy.off('event', listener));
  }

  async close(): Promise<void> {
    for (const d of this.detach) d();
    await new Promise<void>((resolve) => this.client.close(() => resolve()));
  }
}

function sendFailure(err: Error, host: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `the host name ${host} does not resolve`;
  // hot-shots wraps the socket's error: "Error sending hot-shots message: Error: <the error>".
  return err.message.replace(/^Error sending hot-shots message: (Error: )?/, '');
}
