/**
 * Protocol modules: framing of a byte stream into exchanges (request -> reply) and encoding of
 * protocol-correct errors. A framer never changes bytes: concatenating every segment's `data`
 * in order gives back exactly the bytes that were pushed in.
 */

export const PROTOCOL_NAMES = ['tcp', 'http', 'redis', 'memcache', 'mysql', 'postgres', 'smtp'] as const;
export type ProtocolName = (typeof PROTOCOL_NAMES)[number];

/** A protocol as behaviors see it: its name and the errors it can inject. */
export interface ProtocolInfo {
  protocol: ProtocolName;
  /** Error kinds the protocol can encode (for `error`'s `kind` option). */
  errorKinds: readonly string[];
  defaultError: string;
}

/** A piece of one message, in stream order. */
export interface Segment {
  data: Buffer;
  /** First bytes of a message (a request or a reply). */
  start: boolean;
  /** Last bytes of a message. A message may be one segment with both flags. */
  end: boolean;
  /**
   * Bytes that belong to no exchange (greeting, handshake, asynchronous notices, bytes after a
   * STARTTLS or protocol upgrade): forwarded untouched, never faulted.
   */
  passthrough?: boolean;
  /** Requests only, set on the start segment: the server sends no reply to this message. */
  noReply?: boolean;
  /** Requests only, set on the start segment: a short name of the command ("GET /", "SET", "Query"). */
  label?: string;
  /**
   * Requests only, on the start segment: the request cannot be withheld from the server without
   * desynchronising the session (e.g. an SMTP message body after the server said 354). An
   * injected error then replaces the server's reply instead.
   */
  mustForward?: boolean;
}

/** See FramerSession.errorFate. */
export type ErrorFate = 'held' | 'given' | 'withdrawn';

/** Per-connection framing state. Both directions share it (a reply's shape may depend on the request). */
export interface FramerSession {
  /** Bytes from the client towards the server. */
  fromClient(chunk: Buffer): Segment[];
  /** Bytes from the server towards the client. */
  fromServer(chunk: Buffer): Segment[];
  /**
   * Tell the session that a request was answered by the proxy and never reached the server, so
   * that its reply bookkeeping (e.g. SMTP's DATA state, HTTP's HEAD method) forgets it.
   * `ordinal` numbers the request messages this session returned, from 0 (every start segment
   * that is not passthrough counts, noReply ones included). It may come after later requests
   * were already framed, but before any reply that would belong to a later request.
   */
  skipped?(ordinal: number): void;
  /**
   * Request `ordinal` (as for skipped) is answered by an injected error, withheld or forwarded,
   * or sent to the server as `standIn` (Protocol.standIn), whose reply then comes in its place.
   */
  errored?(ordinal: number, standIn?: Buffer): void;
  /**
   * At the turn of a mustForward request (`ordinal` as for skipped): what the session's state
   * says the server must be sent in its place, and the reply the client gets instead of the
   * server's, whatever the behaviors draw (a drawn error still replaces the reply). Redis: the
   * EXEC of a MULTI block that had an injected error is sent as DISCARD, answered EXECABORT.
   */
  insteadOf?(ordinal: number): { standIn: Buffer; reply: ErrorReply } | undefined;
  /**
   * The client's side stops framing: it met bytes it cannot frame (a FramingError from
   * fromClient; `returned` false: the requests framed from that chunk were not returned), or it
   * holds more than max_buffer for one message (`returned` true: the chunk's frames went, the
   * bytes held did not). Those bytes and all the client's bytes after pass through. A session
   * that still tells the server's replies to the requests it returned frames them, in turn, then
   * passes the server's bytes through itself (a PASS frame): it gives back the client's bytes it
   * held (as drain's `client`) and keeps its server side. Undefined when it cannot: both sides
   * pass through (drain()).
   */
  stopRequests?(returned: boolean): Buffer | undefined;
  /**
   * What became of the injected error of request `ordinal` (errored), so that the connection
   * counts its behavior as the client sees it: 'held' while the session may yet withdraw it
   * (PostgreSQL: drawn as a request's first read came, held for its Execute, and served instead
   * should its Sync come first, at a kind a real server gives no request that runs nothing,
   * postgres-later.ts), 'withdrawn' once it did (told once), 'given' otherwise. Asked once the
   * error is made, then, for a held one only, as its reply goes to the client or the connection
   * ends. Undefined: every error is given.
   */
  errorFate?(ordinal: number): ErrorFate;
  /** Bytes buffered while waiting for the rest of a message (for the per-connection cap). */
  buffered(): number;
  /**
   * Of buffered(), the bytes max_buffer bounds, when not all: those the framer bounds itself
   * (a memcached reply line, under MAX_HEAD_BYTES) are left out. Asked only past the cap.
   */
  capped?(): number;
  /**
   * Give back every byte received but not yet returned in a segment, per direction. Called when
   * the engine falls back to pass-through after a FramingError or an over-cap buffer: a framer
   * must never lose bytes, so it keeps unparsed input until it emits it (also when it throws).
   */
  drain(): { client: Buffer; server: Buffer };
}

export interface ErrorKind {
  /** One line for docs and `--help`. */
  description: string;
  /** The proxy closes the client connection after sending it (as the real server would). */
  fatal: boolean;
}

export interface ErrorReplyContext {
  /** The label of the request being answered. */
  label?: string;
  /** The raw first segment of the request being answered. */
  request: Buffer;
  /** A uniform random number source for protocols whose errors are random (tcp). */
  random: () => number;
  /**
   * The behavior's own text for the error (`act.error(kind, message)`), in place of the kind's
   * canned one: HTTP's body, Redis' and memcache's error line after its first word, MySQL's and
   * Postgres' message, SMTP's text after the code, raw TCP's bytes.
   */
  message?: string;
  /**
   * The session of the connection the request came on, for errors that must show its state
   * (Postgres' ReadyForQuery carries the transaction status).
   */
  session?: FramerSession;
  /**
   * What the server is sent in the request's place (Protocol.standIn), whose reply the error
   * replaces: the error says what it leaves (Postgres' ReadyForQuery says idle after a
   * ROLLBACK in a COMMIT's place, failed after a statement that aborts the block).
   */
  standIn?: Buffer;
  /** The request's place among the connection's requests (FramerSession.insteadOf's). */
  ordinal?: number;
}

/** A message for a line-based protocol: one line, so it cannot forge the replies after it. */
export function oneLine(message: string): string {
  return message.replace(/[\r\n]+/g, ' ');
}

export interface ErrorReply {
  bytes: Buffer;
  /** Close the client connection after the bytes are written. */
  close: boolean;
}

/**
 * Injected replies made once per key (a kind and what of the request shapes its bytes) and
 * shared, frozen: connections only read them, and an error mix draws one per few exchanges.
 * `canned.get(key) ?? canned.keep(key, make())` builds a reply only the first time.
 */
export class CannedReplies {
  private readonly byKey = new Map<string, ErrorReply>();

  get(key: string): ErrorReply | undefined {
    return this.byKey.get(key);
  }

  keep(key: string, reply: ErrorReply): ErrorReply {
    const frozen = Object.freeze(reply);
    this.byKey.set(key, frozen);
    return frozen;
  }
}

export interface Protocol {
  name: ProtocolName;
  /** Whether replies are framed: if false, an exchange ends with the first reply bytes. */
  framesReplies: boolean;
  /** Error kinds understood by `encodeError`, by name. */
  errorKinds: Record<string, ErrorKind>;
  /**
   * Kinds `encodeError` makes beyond those it names (HTTP: any status from 400 to 599): whether
   * `kind` is one, and how to say what they are where kinds are listed.
   */
  moreErrorKinds?: { admits(kind: string): boolean; text: string };
  defaultError: string;
  /**
   * What the sessions of one proxy share, made once per proxy: redis' functions and scripts seen
   * loaded, for an FCALL or EVALSHA on another connection than the FUNCTION LOAD's or EVAL's (a pool's).
   */
  sessionsShare?(): object;
  /** `shared`: the proxy's sessionsShare(); a session made without one keeps its own. */
  createSession(shared?: object): FramerSession;
  encodeError(kind: string, ctx: ErrorReplyContext): ErrorReply;
  /**
   * A request's first segment (its whole head, for protocols that have one) with the address of
   * the server it goes to written in: HTTP's Host header (Vaurien's overwrite_host_header).
   */
  rewriteHost?(head: Buffer, host: string): Buffer;
  /**
   * For a request that an injected error must neither withhold nor forward (a COMMIT: withheld,
   * the transaction stays open on the server; a failed commit ends it): the bytes the server is
   * sent in its place, whose reply the error replaces. Undefined for other requests. `request`
   * is its first segment, all of it when `whole`. `session`: the connection's, for what earlier
   * requests said (a statement's name) and the state its replies left (a transaction block);
   * `ordinal`: the request's place among them, for the requests ahead of it still in flight;
   * `kind`: the error drawn (MySQL's deadlock rolls back its transaction), `message` the
   * behavior's text for it (redis: a script queued in a block sent as one failing with it).
   */
  standIn?(request: Buffer, whole: boolean, session?: FramerSession, ordinal?: number, kind?: string, message?: string): Buffer | undefined;
  /**
   * Whether a real server in the state the error `kind` stands for refuses the request (a
   * read-only redis replica refuses writes only), asked only once an error is drawn. One it
   * would serve passes untouched, counted as an exchange nothing acted on. `label` and
   * `request` as the request's first segment has them; `session` and `ordinal` as for standIn
   * (redis: a command queued in a MULTI block); `message` the behavior's text for the error, where
   * it says which state (redis: CLUSTERDOWN 'Hash slot not served'). Undefined: every request is refused.
   */
  refuses?(kind: string, label: string | undefined, request: Buffer, session?: FramerSession, ordinal?: number, message?: string): boolean;
  /**
   * The bytes a server in the state the error `kind` stands for sends in place of its greeting,
   * refusing a connection before the client says anything (MySQL past max_connections: 1040), or
   * undefined. A connection the mix draws an `error` of that kind for gets them, then is closed,
   * whatever it would have gone on to (TLS too, which no request's error could reach).
   */
  connectError?(kind: string): Buffer | undefined;
}

/**
 * Thrown by a framer that meets bytes it cannot make sense of. The engine then takes the held
 * bytes back with `drain()` and passes the connection through untouched for the rest of its life
 * (logged once): no crash, no unbounded buffer.
 */
export class FramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FramingError';
  }
}

/** Most framers cap how much of one message head they hold before they give up. */
export const MAX_HEAD_BYTES = 64 * 1024;
