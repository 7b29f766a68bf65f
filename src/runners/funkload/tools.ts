/**
 * Where FunkLoad is on a node and which Python runs it, found in one round trip: the node's
 * `funkload:` setting (a virtualenv, its bin directory, or fl-run-bench itself: the vendored
 * tree's `bin/` works too), else `fl-run-bench` on the PATH of the node's sessions. `deps:` are
 * installed for that Python (FunkLoad is Python 2: a Python 3 virtualenv would not do) with
 * `pip install --target` into the job's scratch space, and put first on PYTHONPATH, so neither
 * the user's virtualenv nor the system is changed by a job.
 */
import type { RunnerNode } from '../../core/runner-contract.js';

export interface FunkloadTools {
  /** The directory holding fl-run-bench. */
  bin: string;
  runBench: string;
  /** fl-build-report next to fl-run-bench, when there is one. */
  buildReport?: string;
  /** The Python that runs FunkLoad (argv: a shebang may be `/usr/bin/env python2`). */
  python?: string[];
}

/**
 * Prints `bin=`, `python=`, `report=` lines, or `missing=<where it looked>`. Paths arrive as
 * arguments, never inside the script text.
 */
const LOCATE = `p=$1
b=
if [ -n "$p" ]; then
  for f in "$p" "$p/fl-run-bench" "$p/bin/fl-run-bench"; do
    if [ -f "$f" ] && [ -x "$f" ]; then b=$f; break; fi
  done
else
  b=$(command -v fl-run-bench) || b=
fi
if [ -z "$b" ]; then echo "missing=$p"; exit 0; fi
d=$(cd "$(dirname "$b")" && pwd)
echo "bin=$d"
if [ -x "$d/fl-python" ]; then echo "python=$d/fl-python"
elif [ -x "$d/python" ]; then echo "python=$d/python"
else
  l=$(head -n 1 "$d/fl-run-bench")
  case "$l" in '#!'*python*) echo "python=\${l#??}";; esac
fi
if [ -x "$d/fl-build-report" ]; then echo "report=$d/fl-build-report"; fi
`;

export class FunkloadMissing extends Error {}

/** Reads LOCATE's output (pure). */
export function parseLocate(lines: readonly string[], node: Pick<RunnerNode, 'name' | 'funkload'>): FunkloadTools {
  const kv = new Map(lines.map((l) => l.trim()).filter((l) => /^\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const bin = kv.get('bin');
  if (!bin) {
    throw new FunkloadMissing(
      node.funkload
        ? `node "${node.name}": no fl-run-bench at ${node.funkload} (nor in its bin/): set funkload: in marteau.nodes.yml to a FunkLoad virtualenv, its bin directory or the fl-run-bench file`
        : `node "${node.name}": fl-run-bench (FunkLoad) is not installed: install FunkLoad on the node (pip install funkload, a Python 2 package) so that fl-run-bench is on the PATH of its sessions, or set funkload: /path/to/venv for the node in marteau.nodes.yml`,
    );
  }
  const python = kv.get('python')?.trim().split(/\s+/);
  return { bin, runBench: `${bin}/fl-run-bench`, buildReport: kv.get('report'), python: python?.length ? python : undefined };
}

export async function locateFunkload(node: RunnerNode, options: { cwd: string; env: Readonly<Record<string, string>>; signal: AbortSignal }): Promise<FunkloadTools> {
  const lines: string[] = [];
  // The probe only reads: it may be asked again when a loaded sshd drops its session.
  await node.executor.run(['sh', '-c', LOCATE, 'sh', node.funkload ?? ''], { ...options, idempotent: true, onLine: (l, s) => s === 'stdout' && lines.push(l) });
  return parseLocate(lines, node);
}

/** `pip install --target DIR` with FunkLoad's own Python (pure). */
export function pipInstallArgv(python: readonly string[], target: string, pipOptions: readonly string[], deps: readonly string[]): string[] {
  return [...python, '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--target', target, ...pipOptions, ...deps];
}

/** Run `argv` with `dir` first on PYTHONPATH (the node's own PYTHONPATH kept after it). */
export function withPythonPath(dir: string | undefined, argv: readonly string[]): string[] {
  if (!dir) return [...argv];
  return ['sh', '-c', 'PYTHONPATH="$1${PYTHONPATH:+:$PYTHONPATH}"; export PYTHONPATH; shift; exec "$@"', 'sh', dir, ...argv];
}
