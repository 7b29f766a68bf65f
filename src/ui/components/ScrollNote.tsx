import { Text } from 'ink';
import { color } from '../theme.js';

/** Where a scrolled list is: "lines 1-17 of 52 · j/k PgDn: more ↓". Nothing when all of it shows. */
export function ScrollNote(props: { top: number; shown: number; total: number }) {
  const { top, shown, total } = props;
  if (total <= shown) return null;
  const end = Math.min(total, top + shown);
  const arrows = `${top > 0 ? '↑' : ''}${end < total ? '↓' : ''}`;
  return <Text color={color('dim')}>{`lines ${top + 1}-${end} of ${total} · j/k PgUp/PgDn: more ${arrows}`}</Text>;
}
