/**
 * A proxy's listening socket. It is bound by listen(), and from then on follows what its proxy
 * wants (sync): closed while the proxy is disabled or refuses every new connection
 * (refusesEveryConnection), bound again on the same address when it lets connections in.
 * Closing never waits for open connections: they stay.
 */
import net from 'node:net';
import type { Mix, MixEntry } from './mix.js';

/**
 * Whether the proxy refuses every new connection: a `down` that cannot miss, in the mix (at
 * 100 %, so alone) or in the toxic chain (toxicity 1, either stream: a toxic's connection hook
 * runs whatever its stream), with its own `toxicity` option at 1. The listener is closed then,
 * so clients get a real "connection refused" rather than a reset after connecting.
 */
export function refusesEveryConnection(mix: Mix, toxics: readonly MixEntry[]): boolean {
  return mix.entries.some(certainDown) || toxics.some(certainDown);
}

function certainDown(e: MixEntry): boolean {
  return e.behavior.name === 'down' && e.percent >= 100 && ((e.options.toxicity as number | undefined) ?? 1) >= 1;
}

/** What a Listener asks of its proxy. */
export interface ListenerOwner {
  /** Where to bind (port 0 the first time: any free one). */
  listenOn(): { host: string; port: number };
  /** Bound on `port`; a throw (an upstream loop, say) closes the socket and fails listen(). */
  bound(port: number): Promise<void>;
  /** A new client socket, paused. */
  accept(socket: net.Socket): void;
  /** Whether the socket should be open now: enabled, not closing, letting connections in. */
  wantsOpen(): boolean;
  log(level: 'error', message: string): void;
}

export class Listener {
  private server?: net.Server;
  /** A bind in progress: a listen() meanwhile waits for it rather than binding twice. */
  private binding?: Promise<void>;
  /** listen() was called: sync() may bind again. */
  private started = false;
  private last: Promise<void> = Promise.resolve();

  constructor(private readonly owner: ListenerOwner) {}

  /** Bind; when the owner does not want it open (every connection refused), it closes at once. */
  listen(): Promise<void> {
    this.started = true;
    if (this.server) return Promise.resolve();
    return (this.binding ??= this.bind().finally(() => { this.binding = undefined; }));
  }

  /** Stop listening now; settles when the connections it accepted are closed too. */
  shut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    return server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
  }

  /**
   * After a change of what the owner wants: close at once, or bind again (settles when
   * listening). The one place a mix or toxic change opens or closes the listener.
   */
  sync(): Promise<void> {
    if (!this.owner.wantsOpen()) {
      void this.shut();
      this.last = Promise.resolve();
    } else if (this.started && !this.server) {
      this.last = this.listen();
    } else {
      this.last = this.binding ?? Promise.resolve();
    }
    return this.last;
  }

  /** Settles once the socket follows the last sync(); rejects if it could not bind again. */
  ready(): Promise<void> {
    return this.last;
  }

  private async bind(): Promise<void> {
    const { host, port } = this.owner.listenOn();
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.owner.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, backlog: 1024 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.owner.log('error', `listener: ${err.message}`));
    try {
      await this.owner.bound((server.address() as net.AddressInfo).port);
    } catch (e) {
      await new Promise((r) => server.close(r));
      throw e;
    }
    // What the owner wants may have changed while binding (a `down` toxic, disabled, closing).
    if (!this.owner.wantsOpen()) {
      server.close();
      return;
    }
    this.server = server;
  }
}
