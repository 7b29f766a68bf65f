import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { redis } from '../../src/proxy/protocols/redis.js';
import { SCRIPTS_KEPT } from '../../src/proxy/protocols/redis-scripts-seen.js';
import { B } from '../helpers/text-framing.js';

const cmd = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
const sha = (script: string) => createHash('sha1').update(script).digest('hex');

describe('redis: an EVALSHA is judged by the script a connection of the proxy saw go to the server', () => {
  const write = (n: number | string) => `return redis.call('SET', KEYS[1], '${n}')`;

  it('learns an EVAL as it passes, a SCRIPT LOAD once the server took it; SCRIPT FLUSH forgets', () => {
    const shared = redis.sessionsShare!();
    const loader = redis.createSession(shared);
    const caller = redis.createSession(shared);
    let ordinal = 0;
    // Whether a read-only replica refuses EVALSHA of `script`, asked on the caller's connection, and what it says.
    const refused = (script: string, kind = 'READONLY') => {
      const request = B(cmd('EVALSHA', sha(script).toUpperCase(), '1', 'k'));
      caller.fromClient(request);
      return redis.refuses!(kind, 'EVALSHA', request, caller, ordinal++);
    };
    const said = (script: string) =>
      redis.encodeError('READONLY', { label: 'EVALSHA', request: B(cmd('EVALSHA', sha(script), '1', 'k')), random: Math.random, session: caller, ordinal: 0 }).bytes.toString();
    const read = "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])";
    expect(refused(write(0))).toBe(false);
    // An EVAL is seen as it passes (the server caches it as it runs it), a pipeline of the same one too.
    loader.fromClient(B(cmd('EVAL', write(0), '1', 'k') + cmd('EVAL', write(0), '1', 'k') + cmd('EVAL', read, '1', 'k')));
    expect([refused(write(0)), refused(write(0), 'OOM'), refused(read)]).toEqual([true, true, false]);
    expect(said(write(0))).toBe(`-READONLY You can't write against a read only replica. script: ${sha(write(0))}, on @user_script:1.\r\n`);
    // A SCRIPT LOAD once answered; not one refused, withheld, or queued in a block.
    loader.fromServer(B('$1\r\n1\r\n$1\r\n1\r\n$1\r\n1\r\n'));
    loader.fromClient(B(cmd('SCRIPT', 'LOAD', write(1))));
    expect(refused(write(1))).toBe(false);
    loader.fromServer(B(`$40\r\n${sha(write(1))}\r\n`));
    loader.fromClient(B(cmd('SCRIPT', 'LOAD', write(2))));
    loader.fromServer(B('-ERR Error compiling script\r\n'));
    loader.fromClient(B(cmd('SCRIPT', 'LOAD', write(3)) + cmd('GET', 'k')));
    loader.skipped!(5);
    loader.fromServer(B('$-1\r\n'));
    loader.fromClient(B(cmd('MULTI') + cmd('SCRIPT', 'LOAD', write(4)) + cmd('EXEC')));
    loader.fromServer(B(`+OK\r\n+QUEUED\r\n*1\r\n$40\r\n${sha(write(4))}\r\n`));
    expect([1, 2, 3, 4].map((n) => refused(write(n)))).toEqual([true, false, false, false]);
    loader.fromClient(B(cmd('SCRIPT', 'FLUSH')));
    loader.fromServer(B('+OK\r\n'));
    expect([refused(write(0)), refused(write(1))]).toEqual([false, false]);
  });

  it(`keeps the last ${SCRIPTS_KEPT} scripts seen, the oldest dropped`, () => {
    const s = redis.createSession();
    s.fromClient(B(Array.from({ length: SCRIPTS_KEPT + 1 }, (_, i) => cmd('EVAL', write(i), '1', 'k')).join('')));
    const refused = (n: number) => redis.refuses!('READONLY', 'EVALSHA', B(cmd('EVALSHA', sha(write(n)), '1', 'k')), s, 0);
    expect([refused(0), refused(1), refused(SCRIPTS_KEPT)]).toEqual([false, true, true]);
  });
});
