import { Box, Text } from 'ink';
import { PRESETS } from '../../proxy/presets.js';
import { mixWords } from '../../text/mix-words.js';
import { color } from '../theme.js';

/**
 * The preset menu `p` opens: every preset with what it does, so the choice is read, not
 * remembered (a one-line list cut the last ones off at 80 columns). A digit applies one.
 */
export function PresetOverlay(props: { proxy: string; mix?: string; width: number; height: number }) {
  const nameWidth = Math.max(...PRESETS.map((p) => p.name.length)) + 2;
  return (
    <Box flexDirection="column" borderStyle="double" borderColor={color('accent')} width={props.width} height={props.height} paddingX={1} overflow="hidden">
      <Text bold wrap="truncate-end">
        Presets for {props.proxy}
        <Text color={color('dim')}>{props.mix ? ` (its mix now: ${mixWords(props.mix)})` : ''}</Text>
      </Text>
      <Text color={color('dim')} wrap="truncate-end">a digit applies one (1-9 ask first while a job runs); esc cancels</Text>
      <Text> </Text>
      {PRESETS.map((p) => (
        <Text key={p.key} wrap="truncate-end">
          <Text color={color('key')} bold>{`  ${p.key}  `}</Text>
          {p.name.padEnd(nameWidth)}
          <Text color={color('dim')}>{p.description}</Text>
        </Text>
      ))}
    </Box>
  );
}
