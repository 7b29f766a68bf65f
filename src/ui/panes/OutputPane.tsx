import { Text } from 'ink';
import { memo } from 'react';
import { Pane } from '../components/Pane.js';
import { color } from '../theme.js';

/** The selected job's streamed lines (or its details); follows the tail unless scrolled up (`scroll` lines from the end). */
export const OutputPane = memo(function OutputPane(props: { job?: string; lines: readonly string[]; scroll: number; focused: boolean; height: number; width: number; details?: boolean }) {
  const { job, lines, scroll, focused, height, width, details } = props;
  const visible = Math.max(1, height - 3);
  const end = Math.max(0, lines.length - scroll);
  const shown = lines.slice(Math.max(0, end - visible), end);
  const extra = details ? 'details · enter: back to output' : scroll > 0 ? `paused ${scroll} lines up · G follows` : job ? 'following' : '';
  return (
    <Pane title={`${details ? 'Details' : 'Output'}${job ? ` · ${job}` : ''}`} index={5} focused={focused} height={height} width={width} extra={extra}>
      {shown.length === 0 ? <Text color={color('dim')}>{job ? 'no output yet' : 'select a job in the queue'}</Text> : null}
      {shown.map((l, i) => (
        <Text key={i} wrap="truncate-end">{l}</Text>
      ))}
    </Pane>
  );
});
