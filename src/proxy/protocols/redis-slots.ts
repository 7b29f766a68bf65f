/**
 * The hash slot a redis cluster keeps a key in (cluster.c keyHashSlot): CRC16 (XMODEM) of the key,
 * or of its hash tag, what lies between its first '{' and the first '}' after it when that is not
 * empty, modulo 16384. A cluster node answers CROSSSLOT to a request whose keys are in several.
 */

/** The slot of the key at `start` to `end` of `buf`. */
export function keySlot(buf: Buffer, start: number, end: number): number {
  const open = buf.indexOf(0x7b, start);
  if (open >= 0 && open < end) {
    const close = buf.indexOf(0x7d, open + 1);
    if (close > open + 1 && close < end) return crc16(buf, open + 1, close) & 16383;
  }
  return crc16(buf, start, end) & 16383;
}

/** CRC16 XMODEM of each byte value: a MULTI block's keys are hashed as they are framed (redis-keys.ts), a byte a step. */
const CRC16_TABLE = Uint16Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  return crc;
});

function crc16(buf: Buffer, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[(crc >> 8) ^ buf[i]];
  return crc;
}
