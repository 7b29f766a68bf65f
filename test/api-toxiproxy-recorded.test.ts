/**
 * Our Toxiproxy API against a real Toxiproxy server's answers: fixtures/toxiproxy-2.4.0/answers.json
 * holds what toxiproxy-server 2.4.0 said to each request of requests.ts (recorded by capture.ts
 * there, since CI has no Toxiproxy). The same requests, in the same order, go to a running
 * `marteau-tui proxy --api`; each answer must be the recorded one (status, Content-Type, body
 * as JSON), ports aside. Where ours differs on purpose, OURS says what we answer and why.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeBody, REQUESTS, type RecordedAnswer } from '../fixtures/toxiproxy-2.4.0/requests.js';
import { startApi, type RunningCli } from './helpers/cli.js';
import { startEchoServer } from './helpers/echo.js';

const recording = JSON.parse(readFileSync(new URL('../fixtures/toxiproxy-2.4.0/answers.json', import.meta.url), 'utf8')) as { server: string; answers: RecordedAnswer[] };
const recorded = new Map(recording.answers.map((a) => [a.id, a]));

let api: RunningCli & { url: string };
let echo: Awaited<ReturnType<typeof startEchoServer>>;

beforeAll(async () => {
  echo = await startEchoServer();
  api = await startApi();
});

afterAll(async () => {
  expect(await api.stop()).toBe(0);
  await echo.close();
});

interface Answer {
  status: number;
  contentType: string | null;
  body: unknown;
}

/** An answer's body as JSON when it is JSON (key order aside), else its text. */
function parsed(a: RecordedAnswer): Answer {
  let body: unknown = a.body;
  try {
    body = JSON.parse(a.body);
  } catch {
    // Plain text (the version, Go's 404 page, the browser refusal).
  }
  return { status: a.status, contentType: a.contentType, body };
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json';
const rec = (id: string) => parsed(recorded.get(id)!);
const withBody = (id: string, change: (body: Record<string, unknown>) => unknown): Answer => {
  const r = rec(id);
  return { ...r, body: change(structuredClone(r.body) as Record<string, unknown>) };
};
const refused = (status: number, error: string): Answer => ({ status, contentType: TEXT, body: { error, status } });

/**
 * Go's JSON decoder words its errors in Go's terms ("cannot unmarshal number into Go struct field
 * Proxy.name of type string"); ours name the field and what was expected. Same status, same
 * "bad request body: " opening that clients match on.
 */
const goDecoder = (id: string): Answer => withBody(id, (b) => ({ ...b, error: expect.stringMatching(/^bad request body: \S/) }));

const OURS: Record<string, { why: string; answer: () => Answer }> = {
  'create-no-listen': {
    why: 'a proxy created without listen binds loopback only, not every interface: a fault injector open to the network by default is a hazard',
    answer: () => withBody('create-no-listen', (b) => ({ ...b, listen: '127.0.0.1:$PORT' })),
  },
  'create-bad-json': { why: "Go's decoder words", answer: () => goDecoder('create-bad-json') },
  'create-array': { why: "Go's decoder words", answer: () => goDecoder('create-array') },
  'create-name-number': { why: "Go's decoder words", answer: () => goDecoder('create-name-number') },
  'create-enabled-string': { why: "Go's decoder words", answer: () => goDecoder('create-enabled-string') },
  'create-empty-body': {
    why: 'an empty body reads as an empty object, so the answer names the first missing field (same status)',
    answer: () => refused(400, 'missing required field: name'),
  },
  'create-upstream-no-port': {
    why: 'an upstream that is not host:port is refused when given; Toxiproxy takes it and fails every connection later',
    answer: () => refused(400, 'bad request body: upstream: "nohost" is not host:port (e.g. 127.0.0.1:6379)'),
  },
  'create-listen-no-port': {
    why: "a malformed listen address is the request's fault (400), found before any bind",
    answer: () => refused(400, 'bad request body: listen: "nohost" is not host:port (e.g. 127.0.0.1:6379)'),
  },
  'create-listen-port-too-big': {
    why: "a malformed listen address is the request's fault (400), found before any bind",
    answer: () => refused(400, 'bad request body: listen: "127.0.0.1:99999": port 99999 is over 65535'),
  },
  list: {
    why: 'the proxy "c" (upstream "nohost") was refused above, and "nolisten" listens on loopback',
    answer: () => withBody('list', (b) => {
      delete b.c;
      (b.nolisten as Record<string, unknown>).listen = '127.0.0.1:$PORT';
      return b;
    }),
  },
  'toxic-attribute-string': { why: "Go's decoder words", answer: () => goDecoder('toxic-attribute-string') },
  'toxic-bad-json': { why: "Go's decoder words", answer: () => goDecoder('toxic-bad-json') },
  'toxic-update-bad-json': { why: "Go's decoder words", answer: () => goDecoder('toxic-update-bad-json') },
  'update-bad-json': { why: "Go's decoder words", answer: () => goDecoder('update-bad-json') },
  'populate-bad-json': { why: "Go's decoder words", answer: () => goDecoder('populate-bad-json') },
  'populate-object': { why: "Go's decoder words", answer: () => goDecoder('populate-object') },
  'toxic-attribute-fraction': {
    why: 'times are numbers of milliseconds and a fraction is kept, where Go decodes into an int64 and refuses it',
    answer: () => ({ status: 200, contentType: JSON_TYPE, body: { attributes: { latency: 1.5, jitter: 0 }, name: 'frac', type: 'latency', stream: 'downstream', toxicity: 1 } }),
  },
  'toxic-attribute-negative': {
    why: 'a negative time is refused; Toxiproxy takes it (a negative latency is no latency)',
    answer: () => refused(400, 'bad request body: attributes.latency: must be >= 0, got the integer -5'),
  },
  'toxic-toxicity-over-1': {
    why: 'toxicity is a probability; Toxiproxy takes 2 and applies it always',
    answer: () => refused(400, 'toxicity must be a number from 0 to 1'),
  },
  'toxic-toxicity-negative': {
    why: 'toxicity is a probability; Toxiproxy takes -1 and never applies it',
    answer: () => refused(400, 'toxicity must be a number from 0 to 1'),
  },
  'toxic-stream-uppercase': {
    why: 'the answer gives the stream the toxic acts on, lowercased; Toxiproxy echoes the spelling sent',
    answer: () => withBody('toxic-stream-uppercase', (b) => ({ ...b, stream: 'upstream' })),
  },
  'toxic-bandwidth': {
    why: 'our bandwidth has a scope (per connection, or the whole proxy as one link), shown with its default',
    answer: () => withBody('toxic-bandwidth', (b) => ({ ...b, attributes: { rate: 100, scope: 'connection' } })),
  },
  'toxic-bandwidth-no-rate': {
    why: "Toxiproxy's default rate 0 lets no byte through, a stall nobody asks for; the rate must be given",
    answer: () => refused(400, "bad request body: attributes.rate: missing (Toxiproxy's default 0 never lets a byte through; give a rate in KB/s)"),
  },
  'toxic-slicer-no-size': {
    why: "Toxiproxy's default average_size 0 cannot slice; the size must be given",
    answer: () => refused(400, "bad request body: attributes.average_size: missing (Toxiproxy's default 0 cannot slice anything; give a size in bytes)"),
  },
  'toxic-update-patch': {
    why: 'PATCH updates, as in Toxiproxy 2.6 and later (the API followed is 2.12\'s)',
    answer: () => withBody('toxic-update-name-type-stream', (b) => ({ ...b, toxicity: 0.4 })),
  },
  'update-patch': {
    why: 'PATCH updates, as in Toxiproxy 2.6 and later (the API followed is 2.12\'s)',
    answer: () => rec('update-rename-ignored'),
  },
  'update-upstream-bad': {
    why: 'an upstream that is not host:port is refused when given',
    answer: () => refused(400, 'bad request body: upstream: "bad" is not host:port (e.g. 127.0.0.1:6379)'),
  },
  'show-after-failed-move': {
    why: 'a move to a taken address is refused and the proxy stays where it was, serving; Toxiproxy leaves it disabled, set to the address it could not take (and had taken the upstream "bad" above)',
    answer: () => withBody('show-after-failed-move', (b) => ({ ...b, listen: '127.0.0.1:$PORT', upstream: '$UPSTREAM', enabled: true })),
  },
  'populate-empty-list': {
    why: 'an empty list, not null: toxiproxy-node-client iterates `proxies` and throws on null',
    answer: () => withBody('populate-empty-list', () => ({ proxies: [] })),
  },
  version: {
    why: "the API followed is Toxiproxy 2.12's, whose /version answers JSON (2.4.0 answered plain text)",
    answer: () => ({ status: 200, contentType: 'application/json;charset=utf-8', body: { version: '2.12.0' } }),
  },
  'method-not-allowed': {
    why: "the answer names the methods allowed; Go's router sends an empty body",
    answer: () => refused(405, 'method PUT not allowed on /proxies (allowed: GET, POST)'),
  },
};

describe(`Toxiproxy API: answers recorded from toxiproxy-server ${recording.server}`, () => {
  it('the recording covers every request, and no override names a request that is not there', () => {
    expect(recording.answers.map((a) => a.id)).toEqual(REQUESTS.map((r) => r.id));
    expect(Object.keys(OURS).filter((id) => !recorded.has(id))).toEqual([]);
  });

  it('answers each request as Toxiproxy did, or as OURS says and why', async () => {
    const upstream = `127.0.0.1:${echo.port}`;
    const got: Record<string, Answer> = {};
    const want: Record<string, Answer> = {};
    for (const r of REQUESTS) {
      const res = await fetch(`${api.url}${r.path}`, {
        method: r.method,
        headers: r.headers,
        body: r.body === undefined ? undefined : r.body.split('$UPSTREAM').join(upstream),
      });
      got[r.id] = parsed({ id: r.id, status: res.status, contentType: res.headers.get('content-type'), body: normalizeBody(await res.text(), upstream) });
      want[r.id] = OURS[r.id]?.answer() ?? rec(r.id);
    }
    expect(got).toEqual(want);
  });
});
