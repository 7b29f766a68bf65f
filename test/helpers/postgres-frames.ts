/**
 * PostgreSQL messages built by hand for the framer's unit tests (test/protocols/): each message
 * from its type and its fields, a string being a C string. The tests against a real server build
 * theirs with postgres-wire.ts.
 */
export const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
export const i16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
export const cstr = (s: string) => Buffer.from(`${s}\0`);
export const cat = (...b: Buffer[]) => Buffer.concat(b);

export function msg(type: string, ...body: (Buffer | string)[]): Buffer {
  const b = Buffer.concat(body.map((x) => (typeof x === 'string' ? cstr(x) : x)));
  return Buffer.concat([Buffer.from(type), i32(b.length + 4), b]);
}

/** A message with no type byte (StartupMessage, SSLRequest, CancelRequest): its length, then `code`. */
export const untyped = (code: number, body: Buffer = Buffer.alloc(0)) => Buffer.concat([i32(8 + body.length), i32(code), body]);
export const startup = () => untyped(196608, Buffer.concat([cstr('user'), cstr('postgres'), cstr('database'), cstr('postgres'), Buffer.from([0])]));
export const Z = (s: 'I' | 'T' | 'E') => msg('Z', Buffer.from(s));
export const cc = (tag: string) => msg('C', tag);
export const parse = (sql: string, name = '') => msg('P', name, sql, i16(0));
export const bind = (portal = '', stmt = '') => msg('B', portal, stmt, i16(0), i16(0), i16(0));
export const describeP = (portal = '') => msg('D', Buffer.from('P'), portal);
export const describeS = (stmt = '') => msg('D', Buffer.from('S'), stmt);
export const execute = (rows = 0) => msg('E', '', i32(rows));
export const sync = () => msg('S');
export const flush = () => msg('H');
export const query = (sql: string) => msg('Q', sql);
