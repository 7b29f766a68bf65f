import { Box, Text } from 'ink';
import { overlayRows, overlayWidth } from '../layout.js';
import { messageLines, type Message } from '../message-log.js';
import { color, messageLevelColor } from '../theme.js';
import { ScrollNote } from './ScrollNote.js';

/** Every message, whole and wrapped, oldest first; opens on the newest. */
export function MessageLogOverlay(props: { messages: readonly Message[]; top?: number; width: number; height: number }) {
  const lines = messageLines(props.messages, overlayWidth(props.width + 1));
  const rows = overlayRows(props.height);
  const max = Math.max(0, lines.length - rows);
  const top = props.top === undefined ? max : Math.min(props.top, max);
  return (
    <Box flexDirection="column" borderStyle="double" borderColor={color('accent')} width={props.width} height={props.height} paddingX={1} overflow="hidden">
      <Text bold>Messages ({props.messages.length}) — esc or m closes</Text>
      {lines.length === 0 ? <Text color={color('dim')}>nothing yet: outcomes of your actions, errors and finished jobs come here</Text> : null}
      {lines.slice(top, top + rows).map((l, i) => (
        <Text key={i} color={l.level === 'info' ? undefined : color(messageLevelColor[l.level])}>{l.text}</Text>
      ))}
      <ScrollNote top={top} shown={rows} total={lines.length} />
    </Box>
  );
}
