import { Box, Text } from 'ink';
import { KEYS, PANE_ORDER, type PaneId } from '../keys.js';
import { color } from '../theme.js';

const TITLES: Record<PaneId | 'global', string> = {
  global: 'Everywhere',
  queue: '[1] Queue',
  nodes: '[2] Nodes',
  proxies: '[3] Proxies',
  behaviors: '[4] Behaviors',
  output: '[5] Output',
};

/** Every key, the focused pane's first. */
export function HelpOverlay(props: { focused: PaneId; width: number; height: number }) {
  const order: (PaneId | 'global')[] = [props.focused, 'global', ...PANE_ORDER.filter((p) => p !== props.focused)];
  const lines: { head?: string; keys?: string; does?: string }[] = [];
  for (const id of order) {
    lines.push({ head: TITLES[id] });
    for (const k of KEYS[id]) lines.push({ keys: k.keys, does: k.does });
  }
  return (
    <Box flexDirection="column" borderStyle="double" borderColor={color('accent')} width={props.width} height={props.height} paddingX={1} overflow="hidden">
      <Text bold>Keys — esc or ? closes</Text>
      {lines.slice(0, props.height - 3).map((l, i) =>
        l.head ? (
          <Text key={i} bold color={color('accent')}>{l.head}</Text>
        ) : (
          <Text key={i}>
            <Text color={color('key')}>{`  ${l.keys}`.padEnd(20)}</Text>
            {l.does}
          </Text>
        ),
      )}
    </Box>
  );
}
