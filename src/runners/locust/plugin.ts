/**
 * The Python side of the locust runner: a Locust plugin loaded next to the user's locustfile
 * (`-f locustfile.py,marteau_hooks.py`). Locust 2.12 (Debian's python3-locust) rewrites its
 * `--csv` files once a second but flushes them only every 10 s and not at exit, so a short run
 * loses its last second and its whole history. This plugin instead
 *  - prints one `##marteau {json}` line per second on stdout: users, totals, and the response
 *    times of that second as Locust's own rounded-ms histogram, which the runner turns into live
 *    progress and the report's time axis;
 *  - ends the run \`MARTEAU_LOCUST_DURATION\` seconds after the last user started (Locust's \`-t\`
 *    counts from a clock gevent cached before the locustfile was imported, so it comes up to a
 *    second short; \`-t\` stays as a safety net);
 *  - counts every request by the 10 ms (SAMPLE_MS) it started in, how it ended (its HTTP status,
 *    or "timeout" / "connection" when no response came) and its time (Locust's rounding), and
 *    prints those counts with each tick: the fine series that fault windows, recovery times and
 *    attribution are computed from, as for builtin's own samples (the `--csv-full-history` file
 *    has no per-status split and Locust 2.12 loses its tail, see above);
 *  - streams with each tick what changed per request name (requests, failures, times), each
 *    failure message's count and each task exception's, with the names and texts sent once each
 *    (see STREAMED_PER_KIND): a run whose CSV files never come back (its node lost, or not soon
 *    after a cancel) is still reported per request name, its failures named, from the stream;
 *  - writes `<prefix>_stats.csv`, `_failures.csv` and `_exceptions.csv` with Locust's own CSV
 *    writer when the run ends, so the files are final and in Locust's documented format.
 * On several nodes Locust runs distributed (one `--master`, one `--worker` per node), and the
 * plugin plays both parts: on a worker it only counts requests and hands the counts, with its
 * node's name and user count, to Locust's own stats report (`report_to_master`); on the master
 * it merges them (`worker_report`) and does all of the above, from the master's merged stats.
 * It uses only public Locust 1.x/2.x API (events, stats entries, StatsCSV, runner classes), and
 * sets the workers' report interval to a second so the master's per-second ticks stay even (and
 * works around Debian's empty Locust version, which breaks its workers' handshake).
 */
import { MAX_STEPS_PER_CYCLE } from '../cycle-stats.js';

// Not "*locust.py": Locust 2.12 refuses any -f file whose name ends so.
export const PLUGIN_FILE = 'marteau_hooks.py';

/**
 * The width of the start buckets requests are counted in. Fine enough that a request's span is
 * known to within 10 ms (a fast 503 lasts a few ms, and attribution asks which fault it
 * overlapped), coarse enough that a busy second stays far fewer entries than requests.
 */
export const SAMPLE_MS = 10;

/**
 * How many request names, failure messages and task exceptions a run streams one by one, each
 * kind: past that, what they count is streamed together (id null). A locustfile that names each
 * request after its URL's ids makes thousands of names, some long: streamed whole, over a slow
 * link, their text would hold Locust's output back, and the load with it. One fewer than the
 * steps a report keeps per cycle, so that the rest's step is among them.
 */
export const STREAMED_PER_KIND = MAX_STEPS_PER_CYCLE - 1;

/** The stdout marker of the plugin's lines; anything else is Locust's own output. */
export const PROGRESS_MARK = '##marteau ';

export const PLUGIN_SOURCE = `# Written by marteau-tui for one locust run; see src/runners/locust/plugin.ts.
import csv
import json
import os
import sys
import time

import gevent
import locust.runners
from locust import events
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV, StatsError

# Workers report every 3 s by default: the master's ticks would come in lumps of three seconds.
locust.runners.WORKER_REPORT_INTERVAL = 1.0
# Debian's python3-locust has an empty version string, and a master takes a worker announcing an
# empty version for a pre-2.0 one and ignores it: give both sides the same non-empty one.
if not locust.runners.__version__:
    locust.runners.__version__ = "0.0.0-marteau"
NODE = os.environ.get("MARTEAU_NODE", "")

PREFIX = os.environ.get("MARTEAU_LOCUST_CSV", "marteau")
DURATION = float(os.environ.get("MARTEAU_LOCUST_DURATION", "0"))


def _emit(kind, **fields):
    sys.stdout.write("${PROGRESS_MARK}" + json.dumps(dict(kind=kind, t=time.time(), **fields), separators=(",", ":")) + "\\n")
    sys.stdout.flush()


def _rounded(ms):
    # Locust's own rounding of response times (locust.stats), so counts stay few per second.
    if ms < 100:
        return int(round(ms))
    if ms < 1000:
        return int(round(ms, -1))
    if ms < 10000:
        return int(round(ms, -2))
    return int(round(ms, -3))


def _outcome(response, exception):
    code = getattr(response, "status_code", 0) or 0
    if code:
        return str(code)
    name = type(exception).__name__ if exception is not None else ""
    return "timeout" if "Timeout" in name else "connection"


class _Ids:
    """Ids of the names and texts a run streams, each sent once, at most ${STREAMED_PER_KIND} of a kind."""

    def __init__(self):
        self.ids = {}
        self.kinds = {}

    def of(self, kind, value, defined):
        key = (kind, value)
        if key in self.ids:
            return self.ids[key]
        if self.kinds.get(kind, 0) >= ${STREAMED_PER_KIND}:
            return None
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.ids[key] = len(self.ids) + 1
        defined.append([self.ids[key]] + (list(value) if isinstance(value, tuple) else [value]))
        return self.ids[key]


def _by_name(environment, state, ids):
    """What changed since the last tick, per request name: the fields named, per_name, failed, raised."""
    names, texts, rows, failed, raised = [], [], {}, [], []
    seen = state["entries"]
    for (name, method), e in list(environment.stats.entries.items()):
        n0, f0, t0 = seen.get((name, method), (0, 0, {}))
        if e.num_requests == n0:
            continue
        times = dict(e.response_times)
        seen[(name, method)] = (e.num_requests, e.num_failures, times)
        nid = ids.of("name", (method, name), names)
        row = rows.setdefault(nid, [nid, 0, 0, {}])
        row[1] += e.num_requests - n0
        row[2] += e.num_failures - f0
        for ms, count in times.items():
            if count > t0.get(ms, 0):
                row[3][str(ms)] = row[3].get(str(ms), 0) + count - t0.get(ms, 0)
    for key, err in list(environment.stats.errors.items()):
        before = state["errors"].get(key, 0)
        if err.occurrences > before:
            state["errors"][key] = err.occurrences
            failed.append([ids.of("name", (err.method, err.name), names), ids.of("failure", StatsError.parse_error(err.error), texts), err.occurrences - before])
    for key, x in list(getattr(environment.runner, "exceptions", {}).items()):
        before = state["exceptions"].get(key, 0)
        if x["count"] > before:
            state["exceptions"][key] = x["count"]
            raised.append([ids.of("exception", (x["msg"], x["traceback"]), texts), x["count"] - before])
    return dict(named=names, texts=texts, per_name=list(rows.values()), failed=failed, raised=raised)


@events.init.add_listener
def _on_init(environment, **_kwargs):
    state = {"times": {}, "requests": 0, "failures": 0, "entries": {}, "errors": {}, "exceptions": {}}
    ids = _Ids()
    samples = {}
    node_users = {}
    worker = isinstance(environment.runner, WorkerRunner)

    def _on_request(response_time=0, response=None, exception=None, start_time=None, **_kw):
        ms = response_time or 0
        start = start_time if start_time else time.time() - ms / 1000.0
        key = (int(start * 1000 / ${SAMPLE_MS}) * ${SAMPLE_MS}, _outcome(response, exception), _rounded(ms), 0 if exception is not None else 1, NODE if worker else "")
        samples[key] = samples.get(key, 0) + 1

    environment.events.request.add_listener(_on_request)

    if worker:
        @environment.events.report_to_master.add_listener
        def _on_report(client_id, data, **_kw):
            data["marteau_node"] = NODE
            data["marteau_users"] = environment.runner.user_count
            data["marteau_samples"] = [list(k) + [count] for k, count in samples.items()]
            samples.clear()

        return

    if isinstance(environment.runner, MasterRunner):
        @environment.events.worker_report.add_listener
        def _on_worker_report(client_id, data, **_kw):
            node = data.get("marteau_node")
            if node:
                node_users[node] = data.get("marteau_users", 0)
            for at, outcome, ms, ok, node, count in data.get("marteau_samples", []):
                key = (at, outcome, ms, ok, node)
                samples[key] = samples.get(key, 0) + count

    def tick():
        total = environment.stats.total
        times = dict(total.response_times)
        previous = state["times"]
        delta = {}
        for ms, count in times.items():
            new = count - previous.get(ms, 0)
            if new > 0:
                delta[str(ms)] = new
        _emit(
            "tick",
            users=environment.runner.user_count if environment.runner else 0,
            requests=total.num_requests,
            failures=total.num_failures,
            new=max(0, total.num_requests - state["requests"]),
            new_failures=max(0, total.num_failures - state["failures"]),
            times=delta,
            samples=[[at, outcome, ms, ok, count] + ([node] if node else []) for (at, outcome, ms, ok, node), count in samples.items()],
            nodes=dict(node_users),
            **_by_name(environment, state, ids)
        )
        samples.clear()
        state.update(times=times, requests=total.num_requests, failures=total.num_failures)

    def ticker():
        # Not past quitting: a master's shutdown takes a while, and an empty tick would show as a dip.
        while not state.get("quit"):
            gevent.sleep(1)
            if not state.get("quit"):
                tick()

    @environment.events.spawning_complete.add_listener
    def _on_spawned(user_count, **_kw):
        # Locust's own listener (added before ours) has reset the stats when --reset-stats is
        # given: the recording window starts now.
        state.update(times={}, requests=0, failures=0, entries={}, errors={})
        _emit("recording", users=user_count)
        if DURATION > 0:
            gevent.spawn_later(DURATION, environment.runner.quit)

    @environment.events.quitting.add_listener
    def _on_quitting(environment, **_kw):
        state["quit"] = True
        tick()
        stats = StatsCSV(environment, PERCENTILES_TO_REPORT)
        for suffix, write in (("stats", stats.requests_csv), ("failures", stats.failures_csv), ("exceptions", stats.exceptions_csv)):
            with open(PREFIX + "_" + suffix + ".csv", "w", newline="") as f:
                write(csv.writer(f))
        total = environment.stats.total
        _emit("end", start=total.start_time, last=total.last_request_timestamp, requests=total.num_requests)

    gevent.spawn(ticker)
`;
