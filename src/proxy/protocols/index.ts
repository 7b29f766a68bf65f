import type { Protocol, ProtocolInfo, ProtocolName } from '../protocol.js';
import { http } from './http.js';
import { memcache } from './memcache.js';
import { mysql } from './mysql.js';
import { postgres } from './postgres.js';
import { redis } from './redis.js';
import { smtp } from './smtp.js';
import { tcp } from './tcp.js';

export const protocols: Record<ProtocolName, Protocol> = { tcp, http, redis, memcache, mysql, postgres, smtp };

/** Whether the protocol's encodeError makes `kind` (one it names, or one of its moreErrorKinds). */
export function hasErrorKind(p: Protocol, kind: string): boolean {
  return Object.hasOwn(p.errorKinds, kind) || p.moreErrorKinds?.admits(kind) === true;
}

/** What behaviors check their options against (Behavior.check) and what their hooks see of it. */
export function protocolInfo(name: ProtocolName): ProtocolInfo {
  const p = protocols[name];
  return { protocol: name, errorKinds: Object.keys(p.errorKinds), defaultError: p.defaultError };
}
