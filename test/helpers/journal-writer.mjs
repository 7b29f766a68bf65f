// Appends `count` records to a journal from its own process (for the concurrency tests).
// Usage: node journal-writer.mjs <dist-journal.js> <file> <writer-name> <count> [queue]
const [, , modulePath, file, name, count, mode] = process.argv;
const n = Number(count);
if (mode === 'queue') {
  const { JournalQueue } = await import(modulePath);
  const q = new JournalQueue(file);
  await q.open();
  for (let i = 0; i < n; i++) {
    await q.enqueue({ name: `${name}-${i}`, source: { kind: 'dir', dir: '/x', configFile: '/x/.marteau.yml' }, runner: 'command', nodes: 1, nodeTags: [] });
  }
  await q.close();
} else {
  const { Journal } = await import(modulePath);
  const j = new Journal(file);
  await j.open();
  // Long-ish records so that many appends cross page boundaries.
  const pad = 'x'.repeat(700);
  for (let i = 0; i < n; i++) await j.append({ t: 'test', writer: name, i, pad });
  await j.close();
}
