import { describe, expect, it } from 'vitest';
import { http } from '../../src/proxy/protocols/http.js';
import { expectSplitInvariant, feed, fuzzFramer, messages } from '../helpers/framing.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('http framer', () => {
  it('frames pipelined requests with and without bodies', () => {
    const reqs = b(
      'GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n' +
        'POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello' +
        'PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n' +
        'DELETE /d HTTP/1.1\r\n\r\n',
    );
    const m = expectSplitInvariant(http, 'client', reqs);
    expect(m.map((x) => x.label)).toEqual(['GET /a', 'POST /b', 'PUT /c', 'DELETE /d']);
    expect(m[1].data.toString()).toMatch(/hello$/);
    expect(m[2].data.toString()).toMatch(/0\r\nX-T: 1\r\n\r\n$/);
  });

  it('frames responses: length, chunked, HEAD, 204, 304, interim 100', () => {
    const s = http.createSession();
    feed(s, 'client', [b('GET / HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n')]);
    const replies = b(
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc' +
        'HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\n\r\n' +
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n' +
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n',
    );
    const m = messages(feed(s, 'server', [replies]));
    expect(m.length).toBe(5);
    expect(m[1].data.toString()).toBe('HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n');
    expect(m[4].data.toString()).toMatch(/^HTTP\/1.1 100 Continue.*304 Not Modified/s);
  });

  it('a repeated head frames as the first did, and a head that differs in a byte frames by its own', () => {
    // The reader compares a head with the last one's bytes and reuses its parse when they are
    // the same: one that differs in its length, a header or its size must be read anew.
    const post = (n: number) => `POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: ${n}\r\n\r\n${'x'.repeat(n)}`;
    const reqs = b(post(5) + post(5) + post(7) + post(5) + 'POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX: 1\r\n\r\nhello' + post(5));
    const m = expectSplitInvariant(http, 'client', reqs);
    expect(m.map((x) => x.data.length)).toEqual([53, 53, 55, 53, 59, 53]);
    expect(m.map((x) => x.label)).toEqual(Array(6).fill('POST /b'));
    const s = http.createSession();
    feed(s, 'client', [b('GET / HTTP/1.1\r\n\r\n'.repeat(4))]);
    const ok = (n: number) => `HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n\r\n${'y'.repeat(n)}`;
    const replies = messages(feed(s, 'server', [b(ok(3) + ok(3)), b(ok(30)), b(ok(3))]));
    expect(replies.map((x) => x.data.toString('latin1'))).toEqual([ok(3), ok(3), ok(30), ok(3)]);
    expect(s.buffered()).toBe(0);
  });

  it('streams a large body in pieces without holding it', () => {
    const s = http.createSession();
    const head = b('POST /up HTTP/1.1\r\nContent-Length: 100000\r\n\r\n');
    const segs = feed(s, 'client', [head, Buffer.alloc(40000), Buffer.alloc(60000)]);
    expect(segs.length).toBe(3);
    expect(segs[0].start && !segs[0].end && segs[0].label === 'POST /up').toBe(true);
    expect(segs[2].end).toBe(true);
    expect(s.buffered()).toBe(0);
  });

  it.each([
    ['101 Switching Protocols', 'GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    ['CONNECT answered 200', 'CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n', 'HTTP/1.1 200 Connection established\r\n\r\n'],
  ])('turns into a tunnel after %s', (_, request, response) => {
    const s = http.createSession();
    feed(s, 'client', [b(request)]);
    const segs = feed(s, 'server', [b(`${response}\x81\x02hi`)]);
    expect(segs[0].end).toBe(true);
    expect(segs[1]).toMatchObject({ passthrough: true });
    expect(segs[1].data.toString('latin1')).toBe('\x81\x02hi');
    expect(feed(s, 'client', [b('\x81\x82garbage')])[0].passthrough).toBe(true);
  });

  it('an upgrade refused, and a HEAD after it, stay HTTP', () => {
    // Refused: the response has a body, and what the client sends next is a request again.
    const s = http.createSession();
    feed(s, 'client', [b('GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')]);
    const refused = messages(feed(s, 'server', [b('HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno')]));
    expect(refused.map((m) => [m.data.toString('latin1'), m.passthrough ?? false])).toEqual([['HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno', false]]);
    expect(messages(feed(s, 'client', [b('HEAD /h HTTP/1.1\r\n\r\n')])).map((m) => m.label)).toEqual(['HEAD /h']);
    // The HEAD's response has no body, whatever its Content-Length says: the next one follows it.
    const heads = messages(feed(s, 'server', [b('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n')]));
    expect(heads.map((m) => m.data.toString('latin1'))).toEqual(['HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n']);
    expect(s.buffered()).toBe(0);
  });

  it('a body read until close never ends the reply', () => {
    const s = http.createSession();
    feed(s, 'client', [b('GET / HTTP/1.0\r\n\r\n')]);
    const segs = feed(s, 'server', [b('HTTP/1.0 200 OK\r\n\r\nsome'), b('more')]);
    expect(segs.map((x) => [x.start, x.end])).toEqual([[true, false], [false, false]]);
  });

  it('rejects garbage with a FramingError and keeps the bytes', () => {
    const s = http.createSession();
    expect(() => s.fromClient(b('\x16\x03\x01 TLS hello\r\n\r\n'))).toThrow(/HTTP request line/);
    expect(s.drain().client.toString('latin1')).toBe('\x16\x03\x01 TLS hello\r\n\r\n');
  });

  it('encodes errors as real responses, keep-alive unless the request said close', () => {
    const e = http.encodeError('503', { request: b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), random: Math.random });
    expect(e.close).toBe(false);
    expect(e.bytes.toString()).toMatch(/^HTTP\/1.1 503 Service Unavailable\r\n/);
    expect(e.bytes.toString()).toMatch(/Retry-After: 1/);
    const head = http.encodeError('500', { request: b('HEAD / HTTP/1.0\r\n\r\n'), random: Math.random });
    expect(head.close).toBe(true);
    expect(head.bytes.toString().endsWith('\r\n\r\n')).toBe(true);
    // The encoded reply is itself a well-framed response.
    const s = http.createSession();
    feed(s, 'client', [b('GET / HTTP/1.1\r\n\r\n')]);
    expect(messages(feed(s, 'server', [e.bytes])).length).toBe(1);
  });

  it('reads the headers that shape a body in any case and spacing, and refuses broken ones', () => {
    const s = http.createSession();
    const reqs = [
      'POST /a HTTP/1.1\r\ncOnTeNt-LeNgTh:   2 \r\n\r\nab',
      'POST /b HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nc',
      'POST /b HTTP/1.1\r\nTRANSFER-ENCODING: gzip, Chunked\r\n\r\n1\r\nd\r\n0\r\n\r\n',
    ];
    const m = messages(feed(s, 'client', [b(reqs.join(''))]));
    expect(m.map((x) => [x.label, x.data.toString('latin1')])).toEqual([['POST /a', reqs[0]], ['POST /b', reqs[1]], ['POST /b', reqs[2]]]);
    // A status line repeated byte for byte reuses what the first one gave; a new one is read again.
    const replies = ['HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', 'HTTP/1.1 204 No\r\nContent-Length: 5\r\n\r\n'];
    expect(messages(feed(s, 'server', [b(replies.join(''))])).map((x) => x.data.toString('latin1'))).toEqual(replies);
    for (const bad of [
      'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length:\r\n\r\n',
      'GET / HTTP/1.1\r\nno colon here\r\n\r\n',
      'GET / HTTP/1.1\r\n: empty name\r\n\r\n',
    ]) {
      expect(() => http.createSession().fromClient(b(bad)), bad).toThrow(/bad (content-length|header line)/);
    }
  });

  it('opens a tunnel on Connection: upgrade in any case, among other tokens', () => {
    const s = http.createSession();
    feed(s, 'client', [b('GET /ws HTTP/1.1\r\nConnection: keep-alive, UPGRADE\r\nUpgrade: websocket\r\n\r\n')]);
    const segs = feed(s, 'server', [b('HTTP/1.1 101 Switching Protocols\r\n\r\nframe')]);
    expect(segs.at(-1)).toMatchObject({ passthrough: true });
    expect(segs.at(-1)!.data.toString()).toBe('frame');
  });

  it('survives fuzzing', () => {
    fuzzFramer(http, [
      b('GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc'),
      b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
    ]);
  });
});
