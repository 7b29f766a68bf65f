/**
 * SIGINT/SIGTERM as a request to stop, caught from the moment they are armed: a service manager
 * (or a test) may stop a long-running command while it still starts, and a signal with no
 * handler kills the process (exit 143) with its listeners in whatever state they were. The bin
 * arms them on its first line, before the CLI's modules load (a third of a second on a loaded
 * machine); the command takes them over and stops once its start is done, as it would running.
 * Nothing catches a signal during Node's own start, before any of our code runs.
 */

export interface StopSignals {
  /** Aborted by the first SIGINT or SIGTERM; its reason is the signal's name. */
  signal: AbortSignal;
  /** Handlers off: a second signal acts as Node's default (kills at once). */
  release(): void;
}

let armed: StopSignals | undefined;

/** Catch SIGINT/SIGTERM from now on, for the command that `takeStopSignals` next. */
export function armStopSignals(): void {
  armed ??= listen();
}

/** The signals armed early, with any already received, or caught from now on. */
export function takeStopSignals(): StopSignals {
  const s = armed ?? listen();
  armed = undefined;
  return s;
}

function listen(): StopSignals {
  const ac = new AbortController();
  const release = () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
  const stop = (name: NodeJS.Signals) => {
    // Off once the signal's other listeners have run: signal-exit (Ink's, the control center's)
    // kills the process again when it finds itself the signal's only listener.
    process.nextTick(release);
    ac.abort(name);
  };
  const onInt = () => stop('SIGINT');
  const onTerm = () => stop('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return { signal: ac.signal, release };
}
