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
 *   flagged no-writes, refused as a read-only script's by the server behind too. A function is a
 *   write by its flags: called with keys, one not flagged no-writes is refused up front; called
 *   with none, it runs, to its first write naming a key;
 * - SLOT_NOT_SERVED: only requests naming keys, up front (redis-refusals.ts).
 * A function's callback is read as the library goes through the proxy (redis-functions.ts).
 * Checked on redis-server 7.0.15 with cluster-enabled yes, slot 0 deleted (cluster_state:fail).
 */
import type { FunctionsSeen } from './redis-functions.js';
import { STAR, wordAt } from './redis-resp.js';
import { downFails } from './redis-script-calls.js';
import { scriptOf, scriptStops } from './redis-scripts.js';
import type { ScriptsSeen } from './redis-scripts-seen.js';

/** A CLUSTERDOWN said so stands for a node that finds no node serving the slot of the first key a request names. */
export const SLOT_NOT_SERVED = 'Hash slot not served';

/** A CLUSTERDOWN said so stands for a node that serves reads while its cluster is down. */
export const READS_WHEN_DOWN = 'The cluster is down and only accepts read commands';

/**
 * How a cluster node down, in the state the behavior's `message` says, stops the script EVAL,
 * EVALSHA, FCALL or their _RO forms `label` runs (`request` its first segment): the text that
 * follows downLine, '' for a returned pcall; undefined when the script is refused up front or
 * served, or the proxy cannot tell (an inline request, a script or function it did not see,
 * redis-script-calls.ts' downFails). A function is read as `functions` saw it loaded: called with
 * no key, it runs, to its first call naming a key (its first write naming one when the node serves
 * reads: one flagged no-writes fails at a write as a read-only script, FCALL_RO of one that is not
 * gets its own error); called with keys, refused up front by its flags, or served.
 */
export function downScriptRefused(label: string | undefined, request: Buffer, message: string | undefined, scripts?: ScriptsSeen, functions?: FunctionsSeen): string | undefined {
  if (request[0] !== STAR || message === SLOT_NOT_SERVED) return undefined;
  const reads = message === READS_WHEN_DOWN;
  if (label === 'FCALL' || label === 'FCALL_RO') return noKeys(request) && !(reads && label === 'FCALL_RO') ? functions?.downCallOf(request, reads) : undefined;
  const script = scriptOf(label, request, scripts);
  if (script === undefined) return undefined;
  // The _RO forms: a write in a read-only script gets the server's own error first.
  if (reads) return script[0].startsWith('#!') || label!.endsWith('_RO') ? undefined : scriptStops(script, downFails(true));
  return noKeys(request) ? scriptStops(script, downFails(false)) : undefined;
}

/** Whether a script request names no key (numkeys 0). */
function noKeys(request: Buffer): boolean {
  const numkeys = wordAt(request, 2);
  return numkeys !== undefined && Number(request.toString('latin1', numkeys[0], numkeys[1])) === 0;
}

/** The line a script stopped so says (scriptVerifyClusterState), before downScriptRefused's text. */
export function downLine(message: string | undefined): string {
  return message === READS_WHEN_DOWN
    ? 'ERR Script attempted to execute a write command while the cluster is down and readonly'
    : 'ERR Script attempted to execute a command while the cluster is down';
}
