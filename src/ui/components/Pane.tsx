import { Box, Text } from 'ink';
import type { ReactNode } from 'react';
import { color, noColor } from '../theme.js';

/** A bordered pane whose border colour shows focus (double border under NO_COLOR). */
export function Pane(props: { title: string; index: number; focused: boolean; width?: number | string; height: number; extra?: string; children?: ReactNode }) {
  const { title, index, focused, width, height, extra, children } = props;
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
          [{index}] {title}
        </Text>
        {extra ? <Text color={color('dim')}>{extra}</Text> : null}
      </Box>
      {children}
    </Box>
  );
}
