/** MySQL wire packets made by hand, for the tests that look at the bytes themselves. */

/** `payload` as one packet numbered `seq`: its 3-byte length, the sequence id, the payload. */
export function pkt(seq: number, payload: Buffer | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const h = Buffer.alloc(4);
  h.writeUIntLE(p.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, p]);
}

/** A little-endian uint32, as statement ids and flags are sent. */
export const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
