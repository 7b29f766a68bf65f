/**
 * What a behavior's hooks see (plugin.ts ConnectionContext, ExchangeContext), as classes rather
 * than an Object.assign of two literals per exchange (a third of the cost of a hooked exchange):
 * one object of one shape, the same own fields.
 */
import type { ConnectionContext, ExchangeContext, ProxyInfo } from './plugin.js';
import type { Random } from './random.js';

/** The connection a context asks whether the server refuses a request with an error (Protocol.refuses). */
export interface Refusals {
  refused(kind: string | undefined, label: string | undefined, request: Buffer, ordinal?: number): boolean;
}

export class ConnectionHookContext implements ConnectionContext {
  constructor(
    public proxy: ProxyInfo,
    public connectionId: number,
    public client: string,
    public random: Random,
    public state: Map<string, unknown>,
  ) {}
}

export class ExchangeHookContext extends ConnectionHookContext implements ExchangeContext {
  exchangeId = 0;
  label: string | undefined = undefined;
  request: Buffer = EMPTY;
  asked: Refusals | undefined = undefined;
  ordinal: number | undefined = undefined;

  refuses(kind?: string): boolean {
    return this.asked?.refused(kind, this.label, this.request, this.ordinal) ?? true;
  }
}

const EMPTY = Buffer.alloc(0);
