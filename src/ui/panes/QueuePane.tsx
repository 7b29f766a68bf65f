import { Text } from 'ink';
import { memo } from 'react';
import type { JobRow } from '../backend.js';
import { Pane } from '../components/Pane.js';
import { queueRows } from '../layout.js';
import { listWindow, outcomeWidth, queueLayout, queueRow } from '../queue-row.js';
import { color, jobStateColor } from '../theme.js';

/** Jobs, newest first, fitted to the width (queue-row.ts); `enter` shows details in the Output pane. */
export const QueuePane = memo(function QueuePane(props: { jobs: readonly JobRow[]; selected: number; top?: number; focused: boolean; height: number; width: number; filter: string; now: number; empty?: string }) {
  const { jobs, selected, focused, height, width, filter, now } = props;
  const visible = queueRows(height);
  const first = listWindow(props.top, selected, jobs.length, visible);
  const shown = jobs.slice(first, first + visible);
  const layout = queueLayout(width - 6, Math.max(0, ...shown.map((j) => j.name.length)), Math.max(0, ...shown.map((j) => j.state.length)), shown.some((j) => j.rate !== undefined), shown.some((j) => !!j.progress), Math.max(0, ...shown.map(outcomeWidth)));
  const counts = jobs.reduce<Record<string, number>>((a, j) => ({ ...a, [j.state]: (a[j.state] ?? 0) + 1 }), {});
  // More jobs than rows: say which part shows first, as the Behaviors pane does; the counts after
  // it are dropped first as the pane narrows (at 80×24 three rows show, and nothing else said so).
  const last = first + shown.length;
  const where = jobs.length > visible ? `${first + 1}-${last} of ${jobs.length} ${first > 0 ? '↑' : ''}${last < jobs.length ? '↓' : ''}` : '';
  const extra = [where, filter ? `filter: ${filter}` : Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(' · ')].filter(Boolean).join(' · ');
  return (
    <Pane title="Queue" index={1} focused={focused} height={height} width={width} extra={extra}>
      {jobs.length === 0 ? <Text color={color('dim')}>{filter ? 'no job matches' : (props.empty ?? 'no job yet: press e to enqueue a .marteau.yml')}</Text> : null}
      {shown.map((j, i) => {
        const isSel = first + i === selected;
        return (
          <Text key={j.id} wrap="truncate-end">
            <Text inverse={isSel && focused} bold={isSel}>{isSel ? '› ' : '  '}</Text>
            {queueRow(j, layout, now).map((seg, k) => (
              <Text key={k} inverse={isSel && focused && k < 2} bold={isSel && k < 2} color={seg.tone === 'state' ? color(jobStateColor[j.state]) : seg.tone ? color(seg.tone) : undefined}>
                {seg.text}
              </Text>
            ))}
          </Text>
        );
      })}
    </Pane>
  );
});
