/** The built-in behaviors: Vaurien's seven, Toxiproxy's toxics, and fail_first for chaos scenarios. */
import type { Behavior } from '../src/proxy/plugin.js';
import abort from './abort.js';
import bandwidth from './bandwidth.js';
import blackout from './blackout.js';
import delay from './delay.js';
import down from './down.js';
import dummy from './dummy.js';
import error from './error.js';
import failFirst from './fail_first.js';
import hang from './hang.js';
import latency from './latency.js';
import limitData from './limit_data.js';
import noop from './noop.js';
import packetLoss from './packet_loss.js';
import resetPeer from './reset_peer.js';
import slicer from './slicer.js';
import slowClose from './slow_close.js';
import timeout from './timeout.js';
import transient from './transient.js';

export const builtinBehaviors: readonly Behavior[] = [
  dummy, delay, error, hang, blackout, abort, transient, failFirst,
  latency, bandwidth, slicer, slowClose, timeout, resetPeer, limitData, packetLoss, down,
] as Behavior[];

/** Names no plugin may take: the built-ins and Toxiproxy's `noop`. */
export const reservedBehaviors: readonly Behavior[] = [...builtinBehaviors, noop as unknown as Behavior];

/**
 * The built-ins and `noop` by name: the registry proxies, configs, jobs and the CLI resolve
 * behavior names in, so a name one of them takes (and lists in an error) every other takes too.
 * It lives here, above proxy/, which is handed its registry and knows no behavior by name.
 */
export const defaultRegistry: ReadonlyMap<string, Behavior> = new Map(reservedBehaviors.map((b) => [b.name, b]));

/** The default registry and the given plugins, in one mutable map (hot reload swaps its content). */
export function buildRegistry(plugins: readonly Behavior[] = []): Map<string, Behavior> {
  return new Map([...defaultRegistry, ...plugins.map((b) => [b.name, b] as const)]);
}
