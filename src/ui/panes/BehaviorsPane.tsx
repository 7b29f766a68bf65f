import { Text } from 'ink';
import { memo } from 'react';
import { Pane } from '../components/Pane.js';
import { remainder, type MixRow } from '../mix-editor.js';
import type { ScheduleLine } from '../schedule-line.js';
import { bar } from '../sparkline.js';
import { cell, ellipsisItems, fitItems, wrapText } from '../text.js';
import { color } from '../theme.js';

const SCHEDULE_COLOR: Record<ScheduleLine['state'], string> = { running: 'accent', paused: 'warn', manual: 'warn', done: 'dim' };

/** The selected proxy's mix as editable percentages (the remainder passes through), and its chaos scenario. */
export const BehaviorsPane = memo(function BehaviorsPane(props: {
  proxy?: string;
  rows: readonly MixRow[];
  schedule?: ScheduleLine;
  selected: number;
  focused: boolean;
  height: number;
  width: number;
}) {
  const { proxy, rows, schedule, selected, focused, height, width } = props;
  const visible = Math.max(1, height - 4 - (schedule ? 2 : 0));
  const first = Math.max(0, Math.min(selected - Math.floor(visible / 2), rows.length - visible));
  const barWidth = Math.max(5, Math.min(20, width - 30));
  const pass = remainder(rows);
  const last = Math.min(rows.length, first + visible);
  // The list is longer than the pane at 80×24 (16 behaviors): say which part shows and that j/k reach the rest.
  const where = rows.length > visible ? `${first + 1}-${last} of ${rows.length} ${first > 0 ? '↑' : ''}${last < rows.length ? '↓' : ''}` : '';
  const tail = fitItems([where, 'p presets'].filter(Boolean), width - 4 - `pass ${pass}% · `.length);
  // The scenario's lines after their mark or indent: whole, else the longest short form that fits, else the shortest cut after a whole item.
  const fit = (full: string, shorter: readonly string[] = []) => [full, ...shorter].find((t) => t.length <= width - 6) ?? ellipsisItems(shorter.at(-1) ?? full, width - 6);
  return (
    <Pane title={`Behaviors${proxy ? ` · ${proxy}` : ''}`} index={4} focused={focused} height={height} width={width}>
      {/* With a proxy running one is always selected: none is, only when none runs. */}
      {proxy === undefined ? <Text color={color('dim')}>{wrapText("no proxy running: a job's proxies show their mix here while it runs", width - 4).join('\n')}</Text> : null}
      {proxy !== undefined && schedule ? (
        <>
          <Text color={color(SCHEDULE_COLOR[schedule.state])} wrap="truncate-end">
            {schedule.state === 'running' ? '▶' : schedule.state === 'done' ? '■' : '⏸'} {fit(schedule.now, schedule.nowShort)}
          </Text>
          <Text color={color('dim')} wrap="truncate-end">
            {'  '}{fit(schedule.next, schedule.nextShort)}
          </Text>
        </>
      ) : null}
      {proxy !== undefined &&
        rows.slice(first, first + visible).map((r, i) => {
          const isSel = first + i === selected;
          return (
            <Text key={r.name} wrap="truncate-end">
              <Text inverse={isSel && focused} bold={isSel} color={r.percent > 0 ? undefined : color('dim')}>
                {isSel ? '›' : ' '} {cell(r.name, 11)} {String(r.percent).padStart(3)}%{' '}
              </Text>
              <Text color={r.percent > 0 ? color('fault') : color('dim')}>{bar(r.percent, barWidth)}</Text>
            </Text>
          );
        })}
      {proxy !== undefined ? (
        <Text wrap="truncate-end">
          <Text bold>pass {pass}%</Text>
          <Text color={color('dim')}>{tail ? ` · ${tail}` : ''}</Text>
        </Text>
      ) : null}
    </Pane>
  );
});
