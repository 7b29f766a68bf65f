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
import resetPeer from './reset_peer.js';
import slicer from './slicer.js';
import slowClose from './slow_close.js';
import timeout from './timeout.js';
import transient from './transient.js';

export const builtinBehaviors: readonly Behavior[] = [
  dummy, delay, error, hang, blackout, abort, transient, failFirst,
  latency, bandwidth, slicer, slowClose, timeout, resetPeer, limitData, down,
] as Behavior[];

