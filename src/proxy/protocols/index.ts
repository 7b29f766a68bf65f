import type { Protocol, ProtocolName } from '../protocol.js';
import { http } from './http.js';
import { memcache } from './memcache.js';
import { mysql } from './mysql.js';
import { postgres } from './postgres.js';
import { redis } from './redis.js';
import { smtp } from './smtp.js';
import { tcp } from './tcp.js';

export const protocols: Record<ProtocolName, Protocol> = { tcp, http, redis, memcache, mysql, postgres, smtp };
