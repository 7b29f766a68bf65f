import { Text } from 'ink';
import { memo } from 'react';
import type { JobRow } from '../backend.js';
import { Pane } from '../components/Pane.js';
import { color, jobStateColor } from '../theme.js';

export function elapsed(job: JobRow, now: number): string {
  if (!job.startedAt) return '';
  const s = Math.max(0, Math.round(((job.endedAt ?? now) - job.startedAt) / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Jobs with state, progress, nodes and elapsed time (`enter` shows details in the Output pane). */
export const QueuePane = memo(function QueuePane(props: {
  jobs: readonly JobRow[];
  selected: number;
  focused: boolean;
  height: number;
  width: number;
  filter: string;
  now: number;
}) {
  const { jobs, selected, focused, height, width, filter, now } = props;
  const visible = Math.max(1, height - 3);
  // Nodes are in their own pane: a narrow queue gives their column to the progress.
  const wide = width >= 90;
  const first = Math.max(0, Math.min(selected - visible + 1, jobs.length - visible));
  const counts = jobs.reduce<Record<string, number>>((a, j) => ({ ...a, [j.state]: (a[j.state] ?? 0) + 1 }), {});
  const extra = filter ? `filter: ${filter}` : Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(' · ');
  return (
    <Pane title="Queue" index={1} focused={focused} height={height} width={width} extra={extra}>
      {jobs.length === 0 ? <Text color={color('dim')}>{filter ? 'no job matches' : 'no job yet: press e to enqueue a .marteau.yml'}</Text> : null}
      {jobs.slice(first, first + visible).map((j, i) => {
        const isSel = first + i === selected;
        return (
          <Text key={j.id} wrap="truncate-end">
            <Text inverse={isSel && focused} bold={isSel}>
              {isSel ? '›' : ' '} {j.id.slice(0, 8)} {j.name.padEnd(12).slice(0, 12)}{' '}
            </Text>
            <Text color={color(jobStateColor[j.state])}>{j.state.padEnd(11)}</Text>
            <Text color={color('dim')}>{elapsed(j, now).padStart(6)} {wide ? `${j.nodes.join(',').padEnd(8).slice(0, 8)} ` : ''}</Text>
            {j.progress ?? ''}
          </Text>
        );
      })}
    </Pane>
  );
});
