import { Box, Text } from 'ink';
import { memo } from 'react';
import type { ScheduleView } from '../../core/chaos-player.js';
import type { ProxyView } from '../../proxy/monitor.js';
import { Pane } from '../components/Pane.js';
import { activeFault } from '../schedule-line.js';
import { fixed, sparkline } from '../sparkline.js';
import { cell, ellipsisItems, wrapText } from '../text.js';
import { color } from '../theme.js';

const ROWS = 3;

/**
 * Three lines a proxy: connections and exchanges/s; fault % and p95 latency, each with its
 * sparkline; the fault in force and when it ends, with the faults counted per behavior (after
 * who runs it, for one another process runs).
 */
export const ProxiesPane = memo(function ProxiesPane(props: {
  proxies: readonly ProxyView[];
  schedules: readonly ScheduleView[];
  /** What the pane says with no proxy to show (the selected job's reason). */
  empty: string;
  selected: number;
  focused: boolean;
  height: number;
  width: number;
  now: number;
}) {
  const { proxies, schedules, empty, selected, focused, height, width, now } = props;
  const inner = width - 4;
  const visible = Math.max(1, Math.floor((height - 3) / ROWS));
  const first = Math.max(0, Math.min(selected - visible + 1, proxies.length - visible));
  // Wide enough for 'memcache' and 'postgres' whole where there is room; a space after it always.
  const proto = inner < 50 ? 6 : 8;
  const head = 2 + 10 + 1 + proto + 1 + 8 + 1 + 5 + 3;
  const rateSpark = Math.max(4, Math.min(24, inner - head));
  const halfSpark = Math.max(4, Math.min(16, Math.floor((inner - 30) / 2)));
  // More proxies than rows (a sweep's beside the demo's, at 80×24 one shows): say which show, as the Queue does.
  const last = Math.min(proxies.length, first + visible);
  const where = proxies.length > visible ? `${first + 1}-${last} of ${proxies.length} ${first > 0 ? '↑' : ''}${last < proxies.length ? '↓' : ''} · ` : '';
  return (
    <Pane title="Proxies" index={3} focused={focused} height={height} width={width} extra={`${where}${proxies.length} running`}>
      {/* Wrapped here: Ink's wrap keeps the space at a break, which then starts the next line. */}
      {proxies.length === 0 ? <Text color={color('dim')}>{wrapText(empty, inner).join('\n')}</Text> : null}
      {proxies.slice(first, first + visible).map((p, i) => {
        const s = p.stats;
        const isSel = first + i === selected;
        const fault = activeFault(s.mix, schedules.find((x) => x.proxy === s.name), now);
        const counts = Object.entries(s.behaviors)
          .filter(([n, c]) => n !== 'dummy' && c > 0)
          .map(([n, c]) => `${n} ${c}`)
          .join(' ');
        const line = faultLine(p.elsewhere ? `run by ${p.elsewhere}` : '', fault.text, counts, inner - 2);
        return (
          <Box key={s.name} flexDirection="column">
            <Text wrap="truncate-end">
              <Text inverse={isSel && focused} bold={isSel}>
                {isSel ? '›' : ' '} {cell(s.name, 10)} {cell(s.protocol, proto)}
              </Text>{' '}
              conn{fixed(s.connections.open, 4)} {fixed(p.rate, 5)}/s <Text color={color('accent')}>{sparkline(p.history, rateSpark)}</Text>
            </Text>
            <Text wrap="truncate-end">
              {'  '}fault{fixed(p.faultPercent, 4)}% <Text color={color('fault')}>{sparkline(p.faultPercentHistory, halfSpark, 100)}</Text> p95{fixed(p.p95, 5)}ms{' '}
              <Text color={color('warn')}>{sparkline(p.p95History, halfSpark)}</Text>
            </Text>
            <Text wrap="truncate-end" color={fault.faulty ? color('fault') : color('dim')}>
              {'  '}
              {line.who ? <Text color={color('dim')}>{line.who}</Text> : null}
              {line.fault}
              {line.counts ? <Text color={color('dim')}>{line.counts}</Text> : null}
            </Text>
          </Box>
        );
      })}
    </Pane>
  );
});

/**
 * The third line's parts (who runs the proxy, the fault in force, the faults counted) cut after
 * a whole item to `width` cells, each part kept apart for its colour: Ink's own cut left
 * 'until changed · del…' or 'ends in 3…', a figure or word in pieces.
 */
function faultLine(who: string, fault: string, counts: string, width: number): { who: string; fault: string; counts: string } {
  const parts = [who && `${who} · `, fault, counts && ` · ${counts}`];
  let rest = ellipsisItems(parts.join(''), width);
  const [w, f, c] = parts.map((part, i) => {
    const mine = i === parts.length - 1 ? rest : rest.slice(0, part.length);
    rest = rest.slice(mine.length);
    return mine;
  });
  return { who: w, fault: f, counts: c };
}
