import { Text } from 'ink';
import { memo } from 'react';
import { Pane } from '../components/Pane.js';
import { matches, outputWindow, type OutputView } from '../output-view.js';
import { ellipsis, wrapText } from '../text.js';
import { color } from '../theme.js';

/** The selected job's streamed lines (or its details): scrolled or following, wrapped or cut, with search matches. */
export const OutputPane = memo(function OutputPane(props: {
  job?: string;
  /** What an empty pane says of the selected job (a job that ended without a line says how it ended). */
  empty: string;
  lines: readonly string[];
  view: OutputView;
  details: boolean;
  focused: boolean;
  height: number;
  width: number;
  rows: number;
  inner: number;
}) {
  const { job, empty, lines, view, details, focused, height, width, rows, inner } = props;
  const win = outputWindow(lines, view, rows, inner);
  const found = view.search ? matches(lines, view.search) : [];
  const where = win.following ? 'following' : `line ${win.top + 1}/${lines.length}`;
  const search = view.search ? ` · /${view.search} ${found.length ? `${found.indexOf(view.match ?? -1) + 1}/${found.length}` : 'no match'}` : '';
  const extra = details ? 'details · enter: back to output' : `${job ? where : ''}${search}${view.wrap ? ' · wrap' : ''}`;
  return (
    <Pane title={`${details ? 'Details' : 'Output'}${job ? ` · ${ellipsis(job, 24)}` : ''}`} index={5} focused={focused} height={height} width={width} extra={extra}>
      {win.rows.length === 0 ? <Text color={color('dim')}>{wrapText(empty, inner).join('\n')}</Text> : null}
      {win.rows.map((r, i) => (
        // Ink gives an empty Text no row: an empty line of the output left a blank row under the last.
        <Text key={i} wrap="truncate-end" inverse={r.match}>
          {r.text || ' '}
        </Text>
      ))}
    </Pane>
  );
});
