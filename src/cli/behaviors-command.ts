/** `marteau-tui behaviors`: what each behavior does, its options with defaults, and error kinds. */
import { z } from 'zod';
import type { Behavior } from '../proxy/plugin.js';
import { protocols } from '../proxy/protocols/index.js';

export function describeBehaviors(behaviors: readonly Behavior[]): string {
  const lines: string[] = ['Behaviors (mix syntax: 20:delay,10:error, or a YAML map with options):', ''];
  for (const b of behaviors) {
    lines.push(`  ${b.name.padEnd(12)}${b.description}`);
    const schema = z.toJSONSchema(b.options, { io: 'input' }) as { properties?: Record<string, { type?: string; default?: unknown; enum?: unknown[] }> };
    for (const [name, p] of Object.entries(schema.properties ?? {})) {
      const type = p.enum ? p.enum.join('|') : (p.type ?? 'any');
      const def = p.default === undefined ? '' : ` = ${JSON.stringify(p.default)}`;
      lines.push(`  ${''.padEnd(12)}  ${name}: ${type}${def}`);
    }
  }
  lines.push('', 'Error kinds for `error` (option kind), per protocol:', '');
  for (const p of Object.values(protocols)) {
    const kinds = Object.entries(p.errorKinds).map(([k, v]) => `${k}${k === p.defaultError ? ' (default)' : ''}${v.fatal ? ' [closes]' : ''}`);
    lines.push(`  ${p.name.padEnd(10)}${[...kinds, ...(p.moreErrorKinds ? [p.moreErrorKinds.text] : [])].join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
