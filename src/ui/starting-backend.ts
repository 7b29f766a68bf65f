/**
 * The backend the control center draws its first frame with, before the engine's modules have
 * loaded and it has started (a second and more on a busy machine, the screen blank meanwhile):
 * empty panes and `starting` in the header. `attach` hands over to the engine's backend, which
 * then answers every read and action; the App keeps this one object, its stores subscribed.
 * An action before then says the engine is still starting.
 */
import type { MixSpec } from '../proxy/mix.js';
import type { MonitorSnapshot } from '../proxy/monitor.js';
import type { TuiBackend, TuiSnapshot } from './backend.js';
import { openInBrowser } from './desktop.js';
import { MessageLog } from './message-log.js';

const STARTING: TuiSnapshot = { jobs: [], nodes: [], schedules: [], output: () => [], starting: true };
const NO_PROXIES: MonitorSnapshot = { at: 0, proxies: [] };
const NOT_YET = 'the engine is still starting (reading the queue and the nodes): try again in a moment';

export class StartingBackend implements TuiBackend {
  /** The engine's backend shares this log (EngineBackendOptions.messages): nothing said before the handover is lost. */
  readonly messages = new MessageLog();
  private real?: TuiBackend;
  private readonly listeners = new Set<() => void>();
  private readonly proxyListeners = new Set<() => void>();

  constructor(readonly cwd: string) {}

  attach(real: TuiBackend): void {
    this.real = real;
    real.subscribe(() => this.listeners.forEach((l) => l()));
    real.proxies.subscribe(() => this.proxyListeners.forEach((l) => l()));
    this.listeners.forEach((l) => l());
    this.proxyListeners.forEach((l) => l());
  }

  private ready(): TuiBackend {
    if (!this.real) throw new Error(NOT_YET);
    return this.real;
  }

  getSnapshot = (): TuiSnapshot => this.real?.getSnapshot() ?? STARTING;

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  readonly proxies: TuiBackend['proxies'] = {
    getSnapshot: () => this.real?.proxies.getSnapshot() ?? NO_PROXIES,
    subscribe: (l) => {
      this.proxyListeners.add(l);
      return () => this.proxyListeners.delete(l);
    },
    mixOf: (proxy) => this.real?.proxies.mixOf(proxy),
    behaviorNames: () => this.real?.proxies.behaviorNames() ?? [],
    setMix: async (proxy: string, spec: MixSpec) => this.ready().proxies.setMix(proxy, spec),
    pauseChaos: async (proxy) => this.ready().proxies.pauseChaos(proxy),
    resumeChaos: async (proxy) => this.ready().proxies.resumeChaos(proxy),
    carrier: (proxy) => this.real?.proxies.carrier(proxy),
  };

  enqueue = async (source: string): Promise<void> => this.ready().enqueue(source);
  cancel = async (jobId: string): Promise<void> => this.ready().cancel(jobId);
  retry = async (jobId: string): Promise<{ id: string }> => this.ready().retry(jobId);
  replay = async (jobId: string): Promise<{ id: string; seed: string }> => this.ready().replay(jobId);
  reportOf = (jobId: string): { path: string } | { none: string } => this.real?.reportOf(jobId) ?? { none: NOT_YET };
  openInBrowser = (file: string): Promise<void> => openInBrowser(file);
  setNodeEnabled = async (node: string, enabled: boolean): Promise<void> => this.ready().setNodeEnabled(node, enabled);
  enqueueSuggestions = (): readonly string[] => this.real?.enqueueSuggestions() ?? [];
}
