import type { Protocol } from '../protocol.js';
import { tcp } from './tcp.js';

// Placeholder until the real framer lands: behaves as raw TCP.
export const redis: Protocol = { ...tcp, name: 'redis' };
