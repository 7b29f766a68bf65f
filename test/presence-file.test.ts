/**
 * The state dir's presence files (what a process running proxies shows the control centers beside
 * it): a reader gets the live processes' of this machine, removes the file a dead one left, leaves
 * another host's alone, and skips its own. Real processes give the live and the dead pids.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { afterAll, expect, it } from 'vitest';
import { currentOwner, processStartTime, type Owner } from '../src/core/owner.js';
import { readPresences, removePresence, writePresence, type PresenceFile } from '../src/core/presence-file.js';
import { removeTemp, stateDir } from './helpers/projects.js';

afterAll(removeTemp);

const presence = (owner: Owner): PresenceFile => ({ owner, at: Date.now(), token: 't', proxies: [], control: [] });

it('reads the live processes of this machine, removes what a dead one left, and leaves another host alone', async () => {
  const root = await stateDir();
  const live = spawn('sleep', ['30']);
  const dead = spawn('true');
  await once(dead, 'exit');
  try {
    const liveOwner = { host: os.hostname(), pid: live.pid!, start: processStartTime(live.pid!) };
    await writePresence(root, presence(liveOwner));
    await writePresence(root, presence({ host: os.hostname(), pid: dead.pid!, start: 1 }));
    await writePresence(root, presence({ host: 'elsewhere.invalid', pid: 1 }));
    await writePresence(root, presence(currentOwner()));
    const read = await readPresences(root, currentOwner());
    expect(read.map((p) => p.owner)).toEqual([liveOwner]);
    expect(readdirSync(root).sort()).toEqual([`presence-${live.pid}.json`, 'presence-1.json', `presence-${process.pid}.json`].sort());
    await removePresence(root, process.pid);
    expect(readdirSync(root)).not.toContain(`presence-${process.pid}.json`);
  } finally {
    live.kill();
  }
});
