import { Text } from 'ink';
import { memo } from 'react';
import type { NodeRow } from '../backend.js';
import { Pane } from '../components/Pane.js';
import { cell } from '../text.js';
import { color, nodeStateColor } from '../theme.js';

/** The state's column: the longest ('disabled') and a space, which the job after it needs at 80×24 (no latency between). */
const STATE = 9;

/** Nodes with availability, probe latency and current job. */
export const NodesPane = memo(function NodesPane(props: { nodes: readonly NodeRow[]; selected: number; focused: boolean; height: number; width: number }) {
  const { nodes, selected, focused, height, width } = props;
  const visible = Math.max(1, height - 3);
  const first = Math.max(0, Math.min(selected - visible + 1, nodes.length - visible));
  const nameWidth = Math.max(5, Math.min(12, ...nodes.map((n) => n.name.length)));
  // The probe's latency is the first to go when the pane is narrow: the running jobs say more.
  const latency = width - 4 - (2 + nameWidth + 1 + STATE + 8) >= 7;
  const up = nodes.filter((n) => n.state === 'up' || n.state === 'no sftp' || n.state === 'busy').length;
  return (
    <Pane title="Nodes" index={2} focused={focused} height={height} width={width} extra={`${up}/${nodes.length} up`}>
      {nodes.slice(first, first + visible).map((n, i) => {
        const isSel = first + i === selected;
        return (
          <Text key={n.name} wrap="truncate-end">
            <Text inverse={isSel && focused} bold={isSel}>{isSel ? '›' : ' '} {cell(n.name, nameWidth)} </Text>
            <Text color={color(nodeStateColor[n.state])}>{n.state.padEnd(STATE)}</Text>
            {latency ? <Text color={color('dim')}>{n.latencyMs === undefined ? '     -' : `${n.latencyMs.toFixed(0).padStart(4)}ms`} </Text> : null}
            {n.job ?? ''}
          </Text>
        );
      })}
    </Pane>
  );
});
