import { Box, Text } from 'ink';
import { color } from '../theme.js';

/** A confirmation that defaults to "no": only y confirms. */
export function ConfirmDialog(props: { question: string; width: number }) {
  return (
    <Box borderStyle="double" borderColor={color('warn')} width={props.width} paddingX={1} flexDirection="column">
      <Text bold>{props.question}</Text>
      <Text color={color('dim')}>y: yes · n / esc: no</Text>
    </Box>
  );
}

/** A one-line text prompt (enqueue path, filter). */
export function PromptDialog(props: { label: string; value: string; hint?: string; width: number }) {
  return (
    <Box borderStyle="round" borderColor={color('filter')} width={props.width} paddingX={1} flexDirection="column">
      <Text>
        <Text bold>{props.label}</Text> {props.value}
        <Text inverse> </Text>
      </Text>
      {props.hint ? <Text color={color('dim')}>{props.hint}</Text> : null}
    </Box>
  );
}
