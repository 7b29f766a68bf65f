/**
 * PostgreSQL frontend/backend protocol (v3).
 *
 * After the startup phase every message is a type byte, a 4-byte big-endian length that counts
 * itself, and a body.
 *
 * - Startup: the StartupMessage is a request ("Startup"), answered by the server's first message
 *   after it (an authentication request, or a refusal: 53300 and 57P03 meet it and nothing else,
 *   postgres-errors.ts, atStartup). The rest is passthrough: SSLRequest / GSSENCRequest (the
 *   server answers one byte; after 'S' or 'G' the connection is TLS / GSS encrypted and stays
 *   opaque passthrough), authentication, ParameterStatus, BackendKeyData ... up to the first
 *   ReadyForQuery. A CancelRequest connection, or a client opening with TLS directly, is opaque
 *   passthrough.
 * - Command phase: a simple Query ('Q') is one request ("Query"); extended-protocol messages
 *   (Parse, Bind, Describe, Execute, Close, Flush) up to and including Sync are one request
 *   ("Extended"; a lone Sync is "Sync"); FunctionCall is "FunctionCall"; Terminate gets no
 *   reply. Every reply ends with ReadyForQuery ('Z'), so replies are framed.
 * - NoticeResponse, ParameterStatus and NotificationResponse that arrive while no reply is in
 *   progress are asynchronous: passthrough. Client COPY messages (CopyData, CopyDone, CopyFail)
 *   are passthrough, as are the Flush/Sync a client sends during a COPY FROM STDIN (the server
 *   ignores them) and the Sync libpq adds after a COPY started by an extended query.
 *
 * Bodies are streamed: the framer holds at most one message header plus a short peek (the whole
 * head of a request, up to MAX_HEAD_BYTES).
 *
 * Errors: ErrorResponse with S/V (ERROR or FATAL), C (SQLSTATE), M and a D(etail) saying it was
 * injected; FATAL ones close the connection, the others are followed by ReadyForQuery with the
 * transaction status the session last saw ('T' or 'E' become 'E': the statement failed inside a
 * transaction block), read from the session the engine passes as `ctx.session`; without it, 'I',
 * and, for a request that begins with a Bind, come after its BindComplete (postgres-errors.ts),
 * but in a failed block, where the server refuses the Bind;
 * the Closes a request begins with run first, their CloseCompletes before it, and a request that
 * parses and runs a statement has the server run what comes before its Execute, whose replies
 * the client gets before the error, as a statement failing as it runs (postgres-aborted.ts).
 * A Flush does not end a request: a client that sends Parse, Describe, Flush and the rest once
 * the description is in (postgres.js) has its Sync end it. An error drawn before the request's
 * Sync has come goes alone, as the server's does: the messages up to the Sync go nowhere, as the
 * server discards them, and the Sync goes to the server, whose ReadyForQuery follows the error
 * (postgres-error-state.ts). A COMMIT that draws an error (a simple query, a statement
 * of one, an extended batch that runs it alone) is replaced by ROLLBACK on its way to the
 * server (one of its own in the extended protocol for a COMMIT run by name, which leaves the
 * unnamed statement), and its ReadyForQuery says 'I' (postgres-commit.ts); the statements a
 * simple query holds before it run, their results passed ahead of the error. Any other request
 * that draws one inside a transaction block is replaced by a message that fails, so that the
 * server's block is aborted as the client is told (postgres-aborted.ts); so is one behind a
 * request in flight that may begin or end a block, whose error then says the server's status
 * after it (postgres-blocks.ts), and one that begins with a Parse of the unnamed statement and
 * runs nothing, which drops the one before. A request that parses a statement (or binds one)
 * and runs nothing in its first read, its Sync to come (postgres.js describing a statement
 * before it binds it), has that read sent as it is, and what follows up to its Execute, in whose
 * place goes a Parse that fails (or in the place of an earlier message where a real error of the
 * kind comes: a deadlock, a statement timeout): its error, when the server sends it, is the
 * request's (postgres-later.ts). A request that runs nothing at all passes untouched at a kind
 * that comes only as a statement runs, as on a real server (postgres-errors.ts, asItRuns). A
 * FATAL error from the server is never a reply an injected one replaces, nor a part of one (amid
 * the reply to a stand-in it passes): the server ends the connection after it (postgres-session.ts).
 */
import type { ErrorReply, ErrorReplyContext, Protocol } from '../protocol.js';
import { encodeError, errorKinds, POSTGRES_ERRORS } from './postgres-errors.js';
import { commitCompletedBefore, commitStandIn, resultsBefore } from './postgres-commit.js';
import { abortStandIn, completedBefore, failsInPlace, passesReply, rollsBackLater, runsLater, runsNothing } from './postgres-aborted.js';
import { STARTUP_META } from './postgres-messages.js';
import { PgSession } from './postgres-session.js';

export { POSTGRES_ERRORS } from './postgres-errors.js';

const IN_BLOCK = 0x54; // 'T': ReadyForQuery's status in a transaction block
const FAILED = 0x45; // 'E': in a failed transaction block

export const postgres: Protocol = {
  name: 'postgres',
  framesReplies: true,
  errorKinds,
  defaultError: '57P01',
  createSession: () => new PgSession(),
  encodeError(kind: string, ctx: ErrorReplyContext): ErrorReply {
    const pg = ctx.session instanceof PgSession ? ctx.session : undefined;
    // Only a FATAL kind meets a StartupMessage (refuses): its error, then the end.
    if (ctx.request[0] === 0) return encodeError(kind, ctx.message);
    const fails = failsInPlace(ctx.standIn);
    const ended = ctx.standIn !== undefined && !fails;
    // Its error waits for its Execute, alone: the server's ReadyForQuery to its Sync follows it,
    // a COMMIT's in a block saying the block it ended (postgres-later.ts).
    if (pg !== undefined && runsLater(ctx.standIn)) {
      const commit = rollsBackLater(ctx.standIn);
      const reply = encodeError(kind, ctx.message, pg, commit, '', false);
      // Where else its kind can meet it (postgres-later.ts, Meets).
      const e = POSTGRES_ERRORS[kind];
      const meets = e?.asItRuns === true ? 'execute' : e?.lockWait === true ? 'lock' : 'timeout';
      return pg.later.hold(ctx.ordinal!, reply, ctx.request, commit, meets);
    }
    // In a failed block (as far as the requests in flight let one tell) the Bind is refused at once.
    const failedBlock = pg !== undefined && pg.txStatus === FAILED && !pg.blocks.unsure(ctx.ordinal);
    // A stand-in that runs the request's first messages passes the server's own answers to them.
    const before = ended ? commitCompletedBefore(ctx.request) : passesReply(ctx.standIn) ? '' : completedBefore(ctx.request, failedBlock);
    // Its Sync to come, the error goes alone: the server's ReadyForQuery to that Sync follows it (errored).
    const ready = pg === undefined || !pg.syncToCome(ctx.ordinal);
    // Sent where the server may or may not be in a block: its own ReadyForQuery will say which.
    if (pg !== undefined && ready && fails && pg.blocks.unsure(ctx.ordinal)) {
      return pg.blocks.toldLater(ctx.ordinal!, encodeError(kind, ctx.message, { txStatus: IN_BLOCK }, false, before));
    }
    const reply = encodeError(kind, ctx.message, pg, ended, before, ready);
    // Should a statement of its query before the COMMIT fail, the reply becomes the server's own (postgres-error-state.ts).
    return pg !== undefined && resultsBefore(ctx.standIn) > 0 ? pg.prefixReply(ctx.ordinal!, reply) : reply;
  },
  refuses(kind, label, request) {
    const e = POSTGRES_ERRORS[kind];
    // A kind a server gives a connection starting up (53300, 57P03) meets its StartupMessage and nothing else.
    const startup = label === STARTUP_META.label;
    if (startup || e?.atStartup === true) return startup && e?.atStartup === true;
    // A request that runs nothing passes at a kind that comes only as a statement runs, as it does on a real server.
    return e?.asItRuns !== true || !runsNothing(request);
  },
  standIn(request, whole, session, ordinal, kind) {
    // A StartupMessage (no type byte: its length's first byte is 0) is refused whole, never stood in for.
    if (request[0] === 0) return undefined;
    const pg = session instanceof PgSession ? session : undefined;
    const lockWait = kind !== undefined && POSTGRES_ERRORS[kind]?.lockWait === true;
    return (whole ? commitStandIn(request, pg?.commits) : undefined) ?? (pg && abortStandIn(request, pg.txStatus, pg.blocks.unsure(ordinal), whole, lockWait, pg.commits));
  },
};
