import { Box, Text } from 'ink';
import { HELP_KEYS_WIDTH, helpLines, type PaneId } from '../keys.js';
import { overlayRows, overlayWidth } from '../layout.js';
import { color } from '../theme.js';
import { ScrollNote } from './ScrollNote.js';

/** Every key, the focused pane's first; scrolls when the terminal is short. */
export function HelpOverlay(props: { focused: PaneId; top: number; width: number; height: number }) {
  const lines = helpLines(props.focused, overlayWidth(props.width + 1));
  const rows = overlayRows(props.height);
  const top = Math.max(0, Math.min(props.top, lines.length - rows));
  return (
    <Box flexDirection="column" borderStyle="double" borderColor={color('accent')} width={props.width} height={props.height} paddingX={1} overflow="hidden">
      <Text bold>Keys — esc or ? closes</Text>
      {lines.slice(top, top + rows).map((l, i) =>
        l.head ? (
          <Text key={i} bold color={color('accent')}>{l.head}</Text>
        ) : (
          <Text key={i} wrap="truncate-end">
            <Text color={color('key')}>{`  ${l.keys}`.padEnd(HELP_KEYS_WIDTH)}</Text>
            {l.does}
          </Text>
        ),
      )}
      <ScrollNote top={top} shown={rows} total={lines.length} />
    </Box>
  );
}
