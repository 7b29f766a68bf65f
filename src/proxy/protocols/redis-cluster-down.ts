/**
 * What a cluster node whose cluster is down (the proxy's CLUSTERDOWN) does to the scripts it runs.
 * redis 7.0 checks each call a script makes as it checks a request (scriptVerifyClusterState, by
 * getNodeByQuery): a script the node lets run stops at its first call the down cluster refuses,
 * with an ERR of its own and where, or gives it to a pcall (redis-script-calls.ts).
 *
 * Which calls, and which scripts run at all, is the state the behavior's message says:
 * - the default line ('The cluster is down'): a request naming keys is refused up front, so a
 *   script runs only when it names none (numkeys 0), and stops at its first call naming a key;
 * - READS_WHEN_DOWN (cluster-allow-reads-when-down yes): a request is refused up front only when
 *   it is a write by its flags, which for a script are its shebang's (EVAL's own without one,
 *   not a write), so a script without a shebang runs whatever keys it names and stops at its first
 *   write naming a key; one with a shebang is judged up front (redis-refusals.ts), its writes, if
 *   flagged no-writes, refused as a read-only script's by the server behind too;
 * - SLOT_NOT_SERVED: only requests naming keys, up front (redis-refusals.ts).
 * Checked on redis-server 7.0.15 with cluster-enabled yes, slot 0 deleted (cluster_state:fail).
 */
import { CONTAINERS } from './redis-commands.js';
import { STAR, wordAt } from './redis-resp.js';
import { NOSCRIPT, type CallFails } from './redis-script-calls.js';
import { scriptOf, scriptStops } from './redis-scripts.js';
import type { ScriptsSeen } from './redis-scripts-seen.js';

/** A CLUSTERDOWN said so stands for a node that finds no node serving the slot of the first key a request names. */
export const SLOT_NOT_SERVED = 'Hash slot not served';

/** A CLUSTERDOWN said so stands for a node that serves reads while its cluster is down. */
export const READS_WHEN_DOWN = 'The cluster is down and only accepts read commands';

/** Sharded pub/sub, whose channel is a key, but which a node serves while down (cluster-allow-pubsubshard-when-down yes). */
export const PUBSUB_SHARD = new Set(['SPUBLISH', 'SSUBSCRIBE', 'SUNSUBSCRIBE']);

/**
 * A call a node down refuses in a script it runs: one naming a key (`writes`: a write naming one),
 * not sharded pub/sub; undefined for a command with subcommands (its keys not read here), one
 * redis 7.0 does not know or refuses in any script (the server behind says so too).
 */
const downFails = (writes: boolean): CallFails => (name, flags) =>
  flags === undefined || CONTAINERS.has(name) || NOSCRIPT.has(name) ? undefined : flags.includes('k') && (!writes || flags.includes('w')) && !PUBSUB_SHARD.has(name);

/**
 * How a cluster node down, in the state the behavior's `message` says, stops the script EVAL,
 * EVALSHA or their _RO forms `label` runs (`request` its first segment): the text that follows
 * downLine, '' for a returned pcall; undefined when the script is refused up front or served, or
 * the proxy cannot tell (an inline request, an EVALSHA of a script not seen, downFails).
 */
export function downScriptRefused(label: string | undefined, request: Buffer, message: string | undefined, scripts?: ScriptsSeen): string | undefined {
  if (request[0] !== STAR || message === SLOT_NOT_SERVED) return undefined;
  const script = scriptOf(label, request, scripts);
  if (script === undefined) return undefined;
  if (message === READS_WHEN_DOWN) {
    // The _RO forms: a write in a read-only script gets the server's own error first.
    return script[0].startsWith('#!') || label!.endsWith('_RO') ? undefined : scriptStops(script, downFails(true));
  }
  const numkeys = wordAt(request, 2);
  if (numkeys === undefined || Number(request.toString('latin1', numkeys[0], numkeys[1])) !== 0) return undefined;
  return scriptStops(script, downFails(false));
}

/** The line a script stopped so says (scriptVerifyClusterState), before downScriptRefused's text. */
export function downLine(message: string | undefined): string {
  return message === READS_WHEN_DOWN
    ? 'ERR Script attempted to execute a write command while the cluster is down and readonly'
    : 'ERR Script attempted to execute a command while the cluster is down';
}
