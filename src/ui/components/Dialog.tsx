import { Box, Text } from 'ink';
import { wrapText } from '../text.js';
import { color } from '../theme.js';

/** The keys of a confirmation: y (or its own `yesKey`) confirms, anything else does nothing. */
export function confirmKeys(yesKey?: string): string {
  return `${yesKey ? `y / ${yesKey}` : 'y'}: yes · n / esc: no`;
}

/** A confirmation that defaults to "no": only y (or its own key) confirms. */
export function ConfirmDialog(props: { question: string; yesKey?: string; width: number }) {
  return (
    <Box borderStyle="double" borderColor={color('warn')} width={props.width} paddingX={1} flexDirection="column">
      {/* Wrapped here, as the prompt's hint: Ink began the next row with the space after a word that filled one. */}
      <Text bold>{wrapText(props.question, props.width - 4).join('\n')}</Text>
      <Text color={color('dim')}>{confirmKeys(props.yesKey)}</Text>
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
      {/* Wrapped here, not by Ink: a break in a two-space gap of the path candidates left a space at the next row's start. */}
      {props.hint ? <Text color={color('dim')}>{wrapText(props.hint, props.width - 4).join('\n')}</Text> : null}
    </Box>
  );
}
