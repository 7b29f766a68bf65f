import { Box, Text } from 'ink';
import { memo } from 'react';
import type { ProxyView } from '../../proxy/monitor.js';
import { Pane } from '../components/Pane.js';
import { fixed, sparkline } from '../sparkline.js';
import { color } from '../theme.js';

/** One row per proxy: open connections, exchanges/s with a sparkline, faults per behavior. */
export const ProxiesPane = memo(function ProxiesPane(props: { proxies: readonly ProxyView[]; selected: number; focused: boolean; height: number; width: number }) {
  const { proxies, selected, focused, height, width } = props;
  const spark = Math.max(6, Math.min(24, width - 42));
  // Two lines a proxy: counts and sparkline, then faults per behavior.
  const visible = Math.max(1, Math.floor((height - 3) / 2));
  const first = Math.max(0, Math.min(selected - visible + 1, proxies.length - visible));
  return (
    <Pane title="Proxies" index={3} focused={focused} height={height} width={width} extra={`${proxies.length} running`}>
      {proxies.length === 0 ? <Text color={color('dim')}>no proxy: add `proxies:` to .marteau.yml</Text> : null}
      {proxies.slice(first, first + visible).map((p, i) => {
        const s = p.stats;
        const isSel = first + i === selected;
        const faults = Object.entries(s.behaviors)
          .filter(([n, c]) => n !== 'dummy' && c > 0)
          .map(([n, c]) => `${n} ${c}${p.faultRates[n] ? ` (${p.faultRates[n].toFixed(0)}/s)` : ''}`)
          .join('  ');
        return (
          <Box key={s.name} flexDirection="column">
            <Text wrap="truncate-end">
              <Text inverse={isSel && focused} bold={isSel}>
                {isSel ? '›' : ' '} {s.name.padEnd(10).slice(0, 10)} {s.protocol.padEnd(8)} conn {fixed(s.connections.open, 3)} {fixed(p.rate, 6)}/s{' '}
              </Text>
              <Text color={color('accent')}>{sparkline(p.history, spark)}</Text>
            </Text>
            <Text wrap="truncate-end" color={faults ? color('fault') : color('dim')}>
              {'   '}
              {faults || 'no faults'}
            </Text>
          </Box>
        );
      })}
    </Pane>
  );
});
