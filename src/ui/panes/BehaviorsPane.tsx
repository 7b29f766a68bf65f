import { Text } from 'ink';
import { memo } from 'react';
import { PRESETS } from '../../proxy/presets.js';
import { Pane } from '../components/Pane.js';
import { remainder, type MixRow } from '../mix-editor.js';
import { bar } from '../sparkline.js';
import { color } from '../theme.js';

/** The selected proxy's mix as editable percentages; the remainder passes through. */
export const BehaviorsPane = memo(function BehaviorsPane(props: {
  proxy?: string;
  rows: readonly MixRow[];
  selected: number;
  focused: boolean;
  height: number;
  width: number;
}) {
  const { proxy, rows, selected, focused, height, width } = props;
  const visible = Math.max(1, height - 4);
  const first = Math.max(0, Math.min(selected - Math.floor(visible / 2), rows.length - visible));
  const barWidth = Math.max(5, Math.min(20, width - 30));
  const pass = remainder(rows);
  return (
    <Pane title={`Behaviors${proxy ? ` · ${proxy}` : ''}`} index={4} focused={focused} height={height} width={width} extra={`pass-through ${pass}%`}>
      {proxy === undefined ? <Text color={color('dim')}>select a proxy</Text> : null}
      {proxy !== undefined &&
        rows.slice(first, first + visible).map((r, i) => {
          const isSel = first + i === selected;
          return (
            <Text key={r.name} wrap="truncate-end">
              <Text inverse={isSel && focused} bold={isSel} color={r.percent > 0 ? undefined : color('dim')}>
                {isSel ? '›' : ' '} {r.name.padEnd(11)} {String(r.percent).padStart(3)}%{' '}
              </Text>
              <Text color={r.percent > 0 ? color('fault') : color('dim')}>{bar(r.percent, barWidth)}</Text>
            </Text>
          );
        })}
      {proxy !== undefined ? (
        <Text color={color('dim')} wrap="truncate-end">
          presets: {PRESETS.map((p) => `${p.key} ${p.name}`).join(' · ')}
        </Text>
      ) : null}
    </Pane>
  );
});
