import type { Protocol } from '../protocol.js';
import { tcp } from './tcp.js';

// Placeholder until the real framer lands: behaves as raw TCP.
export const memcache: Protocol = { ...tcp, name: 'memcache' };
