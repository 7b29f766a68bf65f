import { Box, Text } from 'ink';
import type { ReactNode } from 'react';
import { ellipsis, fitItems } from '../text.js';
import { color, noColor } from '../theme.js';

/**
 * A bordered pane whose border colour shows focus (double border under NO_COLOR). The title
 * wins over the `extra` note at its right: the note's items (" · " between them) are dropped
 * from its end as the pane narrows.
 */
export function Pane(props: { title: string; index: number; focused: boolean; width: number; height: number; extra?: string; children?: ReactNode }) {
  const { title, index, focused, width, height, extra, children } = props;
  const inner = width - 4;
  const head = ellipsis(`[${index}] ${title}`, inner);
  const room = inner - head.length - 2;
  // Whole items of the note only: a figure cut to "pass …" or "(524…" reads as a different one.
  const note = extra ? fitItems(extra.split(' · '), room) : '';
  return (
    <Box
      flexDirection="column"
      borderStyle={focused && noColor ? 'double' : 'round'}
      borderColor={focused ? color('focus') : color('dim')}
      width={width}
      height={height}
      overflow="hidden"
      paddingX={1}
    >
      <Box justifyContent="space-between">
        <Text bold={focused} color={focused ? color('focus') : undefined}>
          {head}
        </Text>
        {note ? <Text color={color('dim')}>{note}</Text> : null}
      </Box>
      {children}
    </Box>
  );
}
