/**
 * The reply a line-oriented framer (redis, memcache) is cutting out of the server's bytes: cut
 * into frames as chunks arrive, the first one marked start, the last one end, and all of them
 * pass-through when no request owns the reply (a push, an unsolicited error).
 */
import { END, PASS, START } from '../frames.js';

export class ReplyCursor {
  /** A reply is being framed. */
  active = false;
  private started = false;
  private pass = false;

  begin(passthrough: boolean): void {
    this.active = true;
    this.started = false;
    this.pass = passthrough;
  }

  /** The next piece of the current reply, as a frame's flags (frames.ts); `end` closes it. */
  flags(end: boolean): number {
    const f = (this.started ? 0 : START) | (end ? END : 0) | (this.pass ? PASS : 0);
    this.started = true;
    if (end) this.active = false;
    return f;
  }
}
