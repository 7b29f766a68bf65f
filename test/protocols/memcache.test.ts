import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FramingError, MAX_HEAD_BYTES, type Segment } from '../../src/proxy/protocol.js';
import { memcache } from '../../src/proxy/protocols/memcache.js';
import { B, checkEverySplit, group, splitAt, type Dir, type Msg } from '../helpers/text-framing.js';



const labels = (msgs: Msg[], dir: Dir) => msgs.filter((m) => m.dir === dir).map((m) => (m.pass ? 'pass' : m.label ?? ''));

describe('memcache framer: requests', () => {
  it('frames storage commands with their data block (data may contain CRLF)', () => {
    const reqs = 'set a 0 0 5\r\nhe\r\no\r\nadd b 1 60 0\r\n\r\ncas c 0 0 2 77\r\nhi\r\nappend a 0 0 1 noreply\r\n!\r\nget a b\r\n';
    const reps = 'STORED\r\nNOT_STORED\r\nEXISTS\r\nVALUE a 0 6\r\nhe\r\no!\r\nEND\r\n';
    const msgs = checkEverySplit(memcache, reqs, reps);
    expect(msgs.filter((m) => m.dir === 'c')).toEqual([
      { dir: 'c', data: 'set a 0 0 5\r\nhe\r\no\r\n', label: 'set' },
      { dir: 'c', data: 'add b 1 60 0\r\n\r\n', label: 'add' },
      { dir: 'c', data: 'cas c 0 0 2 77\r\nhi\r\n', label: 'cas' },
      { dir: 'c', data: 'append a 0 0 1 noreply\r\n!\r\n', label: 'append', noReply: true },
      { dir: 'c', data: 'get a b\r\n', label: 'get' },
    ]);
    expect(msgs.filter((m) => m.dir === 's').map((m) => m.data)).toEqual(['STORED\r\n', 'NOT_STORED\r\n', 'EXISTS\r\n', 'VALUE a 0 6\r\nhe\r\no!\r\nEND\r\n']);
  });

  it('mirrors memcached on malformed storage lines: no data block, the data line is a command', () => {
    // Checked against memcached 1.6: each of these gets an error and the next line is read as a command.
    for (const bad of ['set k x 0 5', 'set k 0 0 -5', 'set k 0 0 5 noreply extra', 'set k\t0 0 5', `set ${'k'.repeat(251)} 0 0 5`, 'ms k x', 'ms k -1']) {
      const s = memcache.createSession();
      const segs = s.fromClient(B(`${bad}\r\nhello\r\nversion\r\n`));
      expect(segs.map((x) => x.label), bad).toEqual([bad.split(' ')[0], 'hello', 'version']);
    }
    // noreply is read from a line with the right word count, even when its numbers are bad.
    expect(memcache.createSession().fromClient(B('set k x 0 5 noreply\r\n'))[0].noReply).toBe(true);
  });

  it('knows which commands carry noreply, and quit', () => {
    const s = memcache.createSession();
    const lines = ['delete k noreply', 'delete k 0 noreply', 'incr k 1 noreply', 'decr k 1 noreply', 'touch k 10 noreply',
      'flush_all noreply', 'flush_all 0 noreply', 'verbosity 1 noreply', 'verbosity noreply', 'quit',
      'get noreply', 'incr k noreply', 'delete k', 'version', 'ms k 1 T0', 'mn'];
    const segs = s.fromClient(B(lines.join('\r\n') + '\r\n'));
    const noReply = segs.filter((x) => x.start).map((x) => !!x.noReply);
    expect(noReply).toEqual([true, true, true, true, true, true, true, true, true, true, false, false, false, false, false, false]);
  });

  it('an empty line and an unknown command are requests (memcached answers ERROR)', () => {
    const msgs = checkEverySplit(memcache, '\r\nbogus cmd\r\nversion\r\n', 'ERROR\r\nERROR\r\nVERSION 1.6.18\r\n');
    expect(labels(msgs, 'c')).toEqual(['(empty)', 'bogus', 'version']);
    expect(msgs.filter((m) => m.dir === 's').every((m) => !m.pass)).toBe(true);
  });

  it('streams a big value without holding it', () => {
    const value = 'z'.repeat(300_000);
    const input = B(`set big 0 0 ${value.length}\r\n${value}\r\nget big\r\n`);
    const s = memcache.createSession();
    const segs: Segment[] = [];
    for (let i = 0; i < input.length; i += 1500) {
      segs.push(...s.fromClient(input.subarray(i, i + 1500)));
      expect(s.buffered()).toBeLessThan(1500);
    }
    expect(segs[0]).toMatchObject({ start: true, label: 'set' });
    expect(segs.filter((x) => x.start).map((x) => x.label)).toEqual(['set', 'get']);
    expect(Buffer.concat(segs.map((x) => x.data)).equals(input)).toBe(true);
  });

  it('binary bytes on a text connection are not framed: FramingError, bytes kept', () => {
    const s = memcache.createSession();
    const bin = Buffer.from([0x80, 0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66, 0x6f, 0x6f]);
    expect(s.fromClient(B('version\r\n'))).toHaveLength(1);
    expect(() => s.fromClient(bin)).toThrow(FramingError);
    expect(s.drain().client.equals(bin)).toBe(true);
  });

  it('a meta command without q whose replies cannot be told from a quiet one waiting ahead is not framed: FramingError, bytes kept', () => {
    // Alike in shape, they are told apart by the command right behind when its replies read
    // otherwise: not another mg v, an me (EN), nor a quiet or noreply one, which may send nothing.
    for (const q of ['mg a v q\r\nmg b v\r\nmg c v\r\n', 'mg a v q\r\nmg b v\r\nme c\r\n', 'mg a v q\r\nmg b v\r\nmg c v q\r\n', 'mg a v q\r\nmg b v\r\ndelete c noreply\r\n', 'ms a 2 q\r\nhi\r\nms b 2\r\nhi\r\n', 'md a q k\r\nmd a k\r\nmg a q\r\n', 'ma a q O1\r\nmd b O1\r\nmd c\r\n']) {
      const t = memcache.createSession();
      expect(t.fromClient(B('version\r\n'))).toHaveLength(1);
      expect(() => t.fromClient(B(q)), q).toThrow(FramingError);
      expect(t.drain().client.toString()).toBe(q);
    }
    // Told apart by the opaque, the key, or codes the quiet one cannot get; mn, me and classic commands always.
    for (const q of ['mg a v q O1\r\nmg b v\r\n', 'mg a v q k\r\nmg b v k\r\n', 'ms a 2 q\r\nhi\r\nmg a v\r\n', 'mg a q\r\nmn\r\nme a\r\nget a\r\nset a 0 0 1\r\nx\r\n', 'mg a v q\r\nmg b v\r\nmn\r\nget c\r\n', 'mg a v q\r\nmn\r\nmg b v\r\nget c\r\n',
      'mg a v q\r\nmg b v\r\nget c\r\n', 'mg a v q\r\nmg b v\r\nms c 1\r\nx\r\n', 'mg a v q\r\nmg b v\r\nmd c\r\n', 'mg a v q\r\nmg b v\r\nversion\r\n']) {
      expect(memcache.createSession().fromClient(B(q)).length, q).toBeGreaterThan(1);
    }
  });

  it('gives up on a command line over 64 KiB', () => {
    const s = memcache.createSession();
    expect(s.fromClient(Buffer.alloc(MAX_HEAD_BYTES, 0x61))).toEqual([]);
    expect(() => s.fromClient(B('a'))).toThrow(FramingError);
    expect(s.drain().client.length).toBe(MAX_HEAD_BYTES + 1);
  });
});

describe('memcache framer: replies', () => {
  it('frames get/gets/gat replies with values until END', () => {
    const reqs = 'get a b c\r\ngets a\r\ngat 10 a\r\nget nothing\r\n';
    // The value of a is the three bytes "END": only the length tells where it ends.
    const reps = 'VALUE a 0 3\r\nEND\r\nVALUE b 5 4\r\nx\r\ny\r\nEND\r\nVALUE a 0 3 42\r\nEND\r\nEND\r\nVALUE a 0 3\r\nEND\r\nEND\r\nEND\r\n';
    const msgs = checkEverySplit(memcache, reqs, reps).filter((m) => m.dir === 's');
    expect(msgs.map((m) => m.data)).toEqual([
      'VALUE a 0 3\r\nEND\r\nVALUE b 5 4\r\nx\r\ny\r\nEND\r\n', 'VALUE a 0 3 42\r\nEND\r\nEND\r\n', 'VALUE a 0 3\r\nEND\r\nEND\r\n', 'END\r\n',
    ]);
  });

  it('a get reply cut short by SERVER_ERROR ends there', () => {
    const msgs = checkEverySplit(memcache, 'get a b\r\nversion\r\n', 'VALUE a 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\nVERSION 1.6.18\r\n');
    expect(msgs.filter((m) => m.dir === 's').map((m) => m.data)).toEqual([
      'VALUE a 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\n', 'VERSION 1.6.18\r\n',
    ]);
  });

  it('frames stats replies (END, RESET, OK, ERROR) and single-line replies', () => {
    const reqs = 'stats\r\nstats reset\r\nstats detail on\r\nstats foo\r\nstats detail dump\r\nincr n 5\r\ndelete k\r\ntouch k 1\r\nflush_all\r\nverbosity 1\r\nversion\r\nshutdown\r\n';
    const reps = 'STAT pid 1\r\nSTAT uptime 2\r\nEND\r\nRESET\r\nOK\r\nERROR\r\nPREFIX a get 1 hit 0 set 0 del 0\r\nEND\r\n' +
      '15\r\nDELETED\r\nTOUCHED\r\nOK\r\nOK\r\nVERSION 1.6.18\r\nERROR: shutdown not enabled\r\n';
    const msgs = checkEverySplit(memcache, reqs, reps).filter((m) => m.dir === 's');
    expect(msgs.map((m) => m.data)).toEqual([
      'STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n', 'RESET\r\n', 'OK\r\n', 'ERROR\r\n', 'PREFIX a get 1 hit 0 set 0 del 0\r\nEND\r\n',
      '15\r\n', 'DELETED\r\n', 'TOUCHED\r\n', 'OK\r\n', 'OK\r\n', 'VERSION 1.6.18\r\n', 'ERROR: shutdown not enabled\r\n',
    ]);
  });

  it('frames meta commands: VA with a data block, HD, EN, NF, MN, ME', () => {
    // Replies as memcached 1.6.18 sends them.
    const reqs = 'ms foo 2 T90\r\nhi\r\nmg foo v t f\r\nmg nope v\r\nmg foo\r\nma cnt N0 J5 v\r\nmd foo\r\nmd foo\r\nme foo\r\nmn\r\n';
    const reps = 'HD\r\nVA 2 t90 f0\r\nhi\r\nEN\r\nHD\r\nVA 1\r\n5\r\nHD\r\nNF\r\nEN\r\nMN\r\n';
    const msgs = checkEverySplit(memcache, reqs, reps);
    expect(labels(msgs, 'c')).toEqual(['ms', 'mg', 'mg', 'mg', 'ma', 'md', 'md', 'me', 'mn']);
    expect(msgs.filter((m) => m.dir === 's').map((m) => m.data)).toEqual([
      'HD\r\n', 'VA 2 t90 f0\r\nhi\r\n', 'EN\r\n', 'HD\r\n', 'VA 1\r\n5\r\n', 'HD\r\n', 'NF\r\n', 'EN\r\n', 'MN\r\n',
    ]);
  });

  /** The replies to `reqs` cut at `points`, each request's whole ('' for one that got none). */
  function quietReplies(reqs: string, reps: string, points: number[], skip: number[] = []): string[] {
    const s = memcache.createSession();
    s.fromClient(B(reqs));
    for (const o of skip) s.skipped?.(o);
    const out: string[] = [];
    let cur = '';
    for (const piece of splitAt(B(reps), points)) {
      for (const x of s.fromServer(piece)) {
        if (x.passthrough) { out.push(`pass ${x.data.toString('latin1')}`); continue; }
        cur = (x.start ? '' : cur) + x.data.toString('latin1');
        if (x.end) out.push(cur);
      }
    }
    expect(s.buffered()).toBe(0);
    return out;
  }

  it('meta commands with q: a reply is the oldest quiet request whose codes, opaque and key it fits; those it passes got none, an empty reply each', () => {
    // As memcached 1.6.18 answers them: a miss and a success are silent.
    const reqs = ['mg miss q v O1', 'mg hit q v O2', 'mg miss q k', 'mg hit q k', 'ms k 1 q\r\nx', 'md gone q O6',
      'ma txt q', 'mg hit q', 'ms k 1 q ME\r\nx', 'mg hit v O10', 'mn'].map((r) => `${r}\r\n`).join('');
    const want = ['', 'VA 1 O2\r\nV\r\n', '', 'HD khit\r\n', '', 'NF O6\r\n', 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n',
      'HD\r\n', 'NS\r\n', 'VA 1 O10\r\nV\r\n', 'MN\r\n'];
    const reps = want.join('');
    for (let cut = 0; cut <= reps.length; cut++) expect(quietReplies(reqs, reps, [cut])).toEqual(want);
    expect(quietReplies(reqs, reps, Array.from({ length: reps.length }, (_, i) => i))).toEqual(want);
    // Skipped (answered by the proxy), a quiet request waits for nothing: no reply of its comes.
    expect(quietReplies(reqs, ['', ...want.slice(2)].join(''), [], [1])).toEqual(['', ...want.slice(2)]);
  });

  it('a batch of thousands of quiet mg: each has its reply or none, the hit where it belongs', () => {
    const reqs = Array.from({ length: 3000 }, (_, i) => `mg k${i} v q k\r\n`).join('') + 'mn\r\n';
    const got = quietReplies(reqs, 'VA 1 kk2000\r\nV\r\nMN\r\n', [10]);
    expect(got.length).toBe(3001);
    expect(got.flatMap((r, i) => (r ? [i] : []))).toEqual([2000, 3000]);
  });

  it('an mg v behind an mg v q, alike in shape: the mn right behind them, or a command whose replies read otherwise, says whose the first reply is, its reply next or not', () => {
    // As memcached 1.6.18 answers each pair (checked): the quiet one's hit, then the other's reply.
    const reqs = 'mg a v q\r\nmg hit q k\r\nmg b v\r\nmn\r\n';
    const cases: string[][] = [
      ['VA 1\r\nv\r\n', '', 'VA 2\r\nwx\r\n', 'MN\r\n'],
      ['VA 1\r\nv\r\n', '', 'EN\r\n', 'MN\r\n'],
      ['', '', 'VA 2\r\nMN\r\n', 'MN\r\n'],
      ['', 'HD khit\r\n', 'VA 1\r\nv\r\n', 'MN\r\n'],
      ['', '', 'EN\r\n', 'MN\r\n'],
      ['', '', 'SERVER_ERROR refcount overflow during fetch\r\n', 'MN\r\n'],
      ['SERVER_ERROR refcount overflow during fetch\r\n', '', 'EN\r\n', 'MN\r\n'],
    ];
    for (const want of cases) {
      const reps = want.join('');
      for (let cut = 0; cut <= reps.length; cut++) expect(quietReplies(reqs, reps, [cut]), reps).toEqual(want);
      expect(quietReplies(reqs, reps, Array.from({ length: reps.length }, (_, i) => i)), reps).toEqual(want);
    }
    // Without the mn, the reply in doubt is not framed; one the quiet one cannot get is.
    const alone = memcache.createSession();
    alone.fromClient(B('mg a v q\r\nmg b v\r\n'));
    expect(() => alone.fromServer(B('VA 1\r\nv\r\n'))).toThrow(FramingError);
    expect(quietReplies('mg a v q\r\nmg b v\r\n', 'EN\r\n', [])).toEqual(['', 'EN\r\n']);
    // Nothing was sent behind them, so a reply after the one in doubt is the other's: the quiet
    // one hit (memcached 1.6.18 sends both in one write). Cut right after the first, it throws.
    for (const want of [['VA 1\r\nv\r\n', 'VA 2\r\nwx\r\n'], ['VA 1\r\nv\r\n', 'EN\r\n']]) {
      const reps = want.join('');
      for (let cut = 0; cut <= reps.length; cut++) {
        if (cut === want[0].length) continue;
        expect(quietReplies('mg a v q\r\nmg b v\r\n', reps, [cut]), `${reps} at ${cut}`).toEqual(want);
      }
      const cutThere = memcache.createSession();
      cutThere.fromClient(B('mg a v q\r\nmg b v\r\n'));
      expect(() => cutThere.fromServer(B(want[0]))).toThrow(FramingError);
    }
    // A command sent behind them that does not tell (it may answer as they do): what follows may be its.
    const behind = memcache.createSession();
    behind.fromClient(B('mg a q\r\nmg b s\r\nmg c v\r\n'));
    expect(() => behind.fromServer(B('SERVER_ERROR refcount overflow during fetch\r\nEN\r\n'))).toThrow(FramingError);
    // The command right behind may tell as the mn does: a get, an ms, an md, version, whose replies
    // read unlike an mg's (as memcached 1.6.18 answers, checked); an error line after the reply in
    // doubt, which either may get, is not framed.
    const tellers: [string, string][] = [['get a\r\n', 'VALUE a 0 1\r\nv\r\nEND\r\n'], ['ms c 1\r\nz\r\n', 'HD\r\n'], ['md zz\r\n', 'NF\r\n'], ['version\r\n', 'VERSION 1.6.18\r\n']];
    for (const [teller, its] of tellers) {
      const pair = `mg a v q\r\nmg hit q k\r\nmg b v\r\n${teller}`;
      for (const want of cases) {
        const told = [...want.slice(0, 3), its];
        const reps = told.join('');
        for (let cut = 0; cut <= reps.length; cut++) expect(quietReplies(pair, reps, [cut]), `${teller} ${reps}`).toEqual(told);
        expect(quietReplies(pair, reps, Array.from({ length: reps.length }, (_, i) => i)), reps).toEqual(told);
      }
      const err = memcache.createSession();
      err.fromClient(B(`mg a v q\r\nmg b v\r\n${teller}`));
      expect(() => err.fromServer(B('VA 1\r\nv\r\nSERVER_ERROR out of memory\r\n')), teller).toThrow(FramingError);
    }
    // The other one sent as an mn (an error drawn for it), nothing is in doubt.
    const s = memcache.createSession();
    s.fromClient(B(reqs));
    s.errored?.(2, B('mn\r\n'));
    const got = s.fromServer(B('VA 1\r\nv\r\nMN\r\nMN\r\n')).filter((x) => x.end).map((x) => x.data.toString());
    expect(got).toEqual(['VA 1\r\nv\r\n', '', 'MN\r\n', 'MN\r\n']);
  });

  it('an error behind quiet meta requests waiting goes to the server as mn, whose MN ends them', () => {
    const s = memcache.createSession();
    s.fromClient(B('mg miss v q\r\nmg k v O9\r\nms k 1 q\r\nx\r\nset n 0 0 1 noreply\r\nx\r\n'));
    // None ahead of the first; a noreply request gets nothing back, an MN would be nobody's.
    expect(memcache.standIn?.(B('mg miss v q\r\n'), true, s, 0)).toBeUndefined();
    expect(memcache.standIn?.(B('set n 0 0 1 noreply\r\n'), false, s, 3)).toBeUndefined();
    const mn = memcache.standIn?.(B('mg k v O9\r\n'), true, s, 1);
    expect(mn?.toString()).toBe('mn\r\n');
    const forMs = memcache.standIn?.(B('ms k 1 q\r\n'), false, s, 2);
    expect(forMs?.toString()).toBe('mn\r\n');
    s.errored?.(1, mn);
    s.errored?.(2, forMs);
    const reps = s.fromServer(B('MN\r\nMN\r\n'));
    expect(reps.map((r) => [r.data.toString(), r.start, r.end, r.passthrough ?? false])).toEqual([['', true, true, false], ['MN\r\n', true, true, false], ['MN\r\n', true, true, false]]);
  });

  it('noreply requests expect nothing: the next reply is the next request\'s', () => {
    const msgs = checkEverySplit(memcache, 'set a 0 0 1 noreply\r\nx\r\ndelete b noreply\r\nget a\r\n', 'VALUE a 0 1\r\nx\r\nEND\r\n');
    expect(msgs.filter((m) => m.dir === 's')).toEqual([{ dir: 's', data: 'VALUE a 0 1\r\nx\r\nEND\r\n' }]);
  });

  it('forgets a skipped request', () => {
    const msgs = checkEverySplit(memcache, 'get a\r\nincr n 1\r\nversion\r\n', 'END\r\nVERSION 1.6.18\r\nEXTRA\r\n', [1]);
    expect(msgs.filter((m) => m.dir === 's').map((m) => [m.data, !!m.pass])).toEqual([
      ['END\r\n', false], ['VERSION 1.6.18\r\n', false], ['EXTRA\r\n', true],
    ]);
  });

  it('a reply nobody asked for passes through', () => {
    const s = memcache.createSession();
    expect(s.fromServer(B('ERROR Too many open connections\r\n'))).toEqual([
      { data: B('ERROR Too many open connections\r\n'), start: true, end: true, passthrough: true },
    ]);
  });

  it('watch: OK is its reply, then everything passes through', () => {
    const msgs = checkEverySplit(memcache, 'version\r\nwatch\r\nversion\r\n', 'VERSION 1.6.18\r\nOK\r\nts=1 gid=2 type=item_get key=a\r\n');
    expect(msgs.map((m) => [m.dir, m.pass ? 'pass' : m.data])).toEqual([
      ['c', 'version\r\n'], ['c', 'watch\r\n'], ['c', 'pass'], ['s', 'VERSION 1.6.18\r\n'], ['s', 'OK\r\n'], ['s', 'pass'],
    ]);
  });

  it('streams a big value in a reply', () => {
    const s = memcache.createSession();
    s.fromClient(B('get big\r\n'));
    const value = 'q'.repeat(100_000);
    const reply = B(`VALUE big 0 ${value.length}\r\n${value}\r\nEND\r\n`);
    const segs: Segment[] = [];
    for (let i = 0; i < reply.length; i += 4096) {
      segs.push(...s.fromServer(reply.subarray(i, i + 4096)));
      expect(s.buffered()).toBeLessThan(100);
    }
    expect(segs.filter((x) => x.end)).toHaveLength(1);
    expect(Buffer.concat(segs.map((x) => x.data)).equals(reply)).toBe(true);
  });

  it('a bad VALUE size is a FramingError, bytes kept', () => {
    const s = memcache.createSession();
    s.fromClient(B('get a\r\n'));
    expect(() => s.fromServer(B('VALUE a 0 zz\r\n'))).toThrow(FramingError);
    expect(s.drain().server.toString()).toBe('VALUE a 0 zz\r\n');
  });
});

describe('memcache framer: fuzz', () => {
  const piece = fc.oneof(
    fc.constantFrom(
      'set k 0 0 3\r\nabc\r\n', 'get k\r\n', 'get a b c\r\n', 'delete k noreply\r\n', '\r\n', 'stats\r\n', 'mg k v\r\n',
      'ms k 2\r\nhi\r\n', 'mg k q\r\n', 'watch\r\n', 'quit\r\n', `set v 0 0 3000\r\n${'v'.repeat(3000)}\r\n`,
      'VALUE k 0 3\r\nabc\r\n', 'END\r\n', 'STORED\r\n', 'STAT x 1\r\n', 'VA 2 f0\r\nhi\r\n', 'HD\r\n', 'ERROR\r\n',
    ),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')),
    fc.string({ maxLength: 20 }),
  );
  const stream = fc.array(piece, { maxLength: 25 }).map((a) => B(a.join('')));
  const cuts = fc.array(fc.nat(), { maxLength: 8 });

  function drive(dir: Dir, data: Buffer, points: number[], prime?: Buffer) {
    const s = memcache.createSession();
    if (prime) s.fromClient(prime);
    const pieces = splitAt(data, points.map((p) => p % (data.length + 1)));
    const out: Buffer[] = [];
    const msgs: Msg[] = [];
    const open: { cur?: Msg } = {};
    let emitted = 0;
    let threw = false;
    for (const p of pieces) {
      try {
        const segs = dir === 'c' ? s.fromClient(p) : s.fromServer(p);
        for (const x of segs) { out.push(x.data); emitted += x.data.length; }
        group(dir, segs, msgs, open);
        expect(s.buffered()).toBeLessThanOrEqual(MAX_HEAD_BYTES);
      } catch (err) {
        expect(err).toBeInstanceOf(FramingError);
        threw = true;
        break;
      }
    }
    const held = s.drain();
    const mine = dir === 'c' ? held.client : held.server;
    out.push(mine);
    const expected = threw ? data.subarray(0, emitted + mine.length) : data;
    expect(Buffer.concat(out).equals(expected)).toBe(true);
  }

  it('requests: no crash but FramingError, bounded buffer, emitted + drained == input', () => {
    fc.assert(fc.property(stream, cuts, (data, points) => drive('c', data, points)), { numRuns: 400 });
  });

  it('replies: same, after a pipeline of requests', () => {
    const prime = B(['get a b', 'set k 0 0 1\r\nx', 'stats', 'mg k v', 'incr n 1', 'get z'].join('\r\n').repeat(5) + '\r\n');
    fc.assert(fc.property(stream, cuts, (data, points) => drive('s', data, points, prime)), { numRuns: 400 });
  });
});

describe('memcache errors', () => {
  const ctx = (request: string) => ({ label: request.split(' ')[0], request: B(request), random: Math.random });

  it('encodes each kind as its error line, none fatal, SERVER_ERROR by default', () => {
    expect(memcache.defaultError).toBe('SERVER_ERROR');
    for (const kind of Object.keys(memcache.errorKinds)) {
      const r = memcache.encodeError(kind, ctx('get a\r\n'));
      expect(r.bytes.toString()).toMatch(/^(ERROR|CLIENT_ERROR [^\r\n]+|SERVER_ERROR [^\r\n]+)\r\n$/);
      expect(r.close).toBe(false);
      expect(memcache.errorKinds[kind].fatal).toBe(false);
    }
  });

  it('words SERVER_ERROR and CLIENT_ERROR after the command, as memcached does', () => {
    const e = (kind: string, req: string) => memcache.encodeError(kind, ctx(req)).bytes.toString();
    expect(e('SERVER_ERROR', 'set a 0 0 1\r\nx\r\n')).toBe('SERVER_ERROR out of memory storing object\r\n');
    expect(e('SERVER_ERROR', 'ms a 1\r\nx\r\n')).toBe('SERVER_ERROR out of memory storing object\r\n');
    expect(e('SERVER_ERROR', 'get a b\r\n')).toBe('SERVER_ERROR out of memory writing get response\r\n');
    expect(e('SERVER_ERROR', 'incr a 1\r\n')).toBe('SERVER_ERROR out of memory\r\n');
    expect(e('CLIENT_ERROR', 'set a 0 0 1\r\nx\r\n')).toBe('CLIENT_ERROR bad data chunk\r\n');
    expect(e('CLIENT_ERROR', 'delete a\r\n')).toBe('CLIENT_ERROR bad command line format\r\n');
    expect(e('ERROR', 'version\r\n')).toBe('ERROR\r\n');
    expect(e('too_large', 'set a 0 0 1\r\nx\r\n')).toBe('SERVER_ERROR object too large for cache\r\n');
  });

  it('sends nothing for a noreply request (and closes for quit)', () => {
    expect(memcache.encodeError('SERVER_ERROR', ctx('set a 0 0 1 noreply\r\nx\r\n'))).toEqual({ bytes: Buffer.alloc(0), close: false });
    expect(memcache.encodeError('ERROR', ctx('delete a noreply\r\n'))).toEqual({ bytes: Buffer.alloc(0), close: false });
    expect(memcache.encodeError('ERROR', ctx('quit\r\n'))).toEqual({ bytes: Buffer.alloc(0), close: true });
  });
});
