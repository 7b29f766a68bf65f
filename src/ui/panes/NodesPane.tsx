import { Text } from 'ink';
import { memo } from 'react';
import type { NodeRow } from '../backend.js';
import { Pane } from '../components/Pane.js';
import { color, nodeStateColor } from '../theme.js';

/** Nodes with availability, probe latency and current job. */
export const NodesPane = memo(function NodesPane(props: { nodes: readonly NodeRow[]; selected: number; focused: boolean; height: number; width: number }) {
  const { nodes, selected, focused, height, width } = props;
  const visible = Math.max(1, height - 3);
  const first = Math.max(0, Math.min(selected - visible + 1, nodes.length - visible));
  const up = nodes.filter((n) => n.state === 'up' || n.state === 'busy').length;
  return (
    <Pane title="Nodes" index={2} focused={focused} height={height} width={width} extra={`${up}/${nodes.length} up`}>
      {nodes.slice(first, first + visible).map((n, i) => {
        const isSel = first + i === selected;
        return (
          <Text key={n.name} wrap="truncate-end">
            <Text inverse={isSel && focused} bold={isSel}>{isSel ? '›' : ' '} {n.name.padEnd(12).slice(0, 12)} </Text>
            <Text color={color(nodeStateColor[n.state])}>{n.state.padEnd(9)}</Text>
            <Text color={color('dim')}>{n.latencyMs === undefined ? '     -' : `${n.latencyMs.toFixed(0).padStart(4)}ms`} </Text>
            {n.job ?? ''}
          </Text>
        );
      })}
    </Pane>
  );
});
