/**
 * What a lost queue connection is called: a reset (the server gone with a request of ours
 * unread, as a killed or stopped Redis leaves it) is a connection lost, not a server never
 * reached; a refused or unreachable address is one never reached.
 */
import { expect, it } from 'vitest';
import { offline } from '../src/core/redis-client.js';

const err = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });

it('a reset or a broken pipe is a connection lost; a refusal or no route is a server not reached', () => {
  const label = 'redis://127.0.0.1:6379/0';
  expect(offline(label, err('ECONNRESET')).message).toBe(`queue offline: the connection to ${label} was lost`);
  expect(offline(label, err('EPIPE')).message).toBe(`queue offline: the connection to ${label} was lost`);
  expect(offline(label, new Error('Connection is closed.')).message).toBe(`queue offline: the connection to ${label} was lost`);
  expect(offline(label, err('ECONNREFUSED')).message).toBe(`queue offline: cannot reach ${label} (ECONNREFUSED)`);
  expect(offline(label, err('EHOSTUNREACH')).message).toBe(`queue offline: cannot reach ${label} (EHOSTUNREACH)`);
});
