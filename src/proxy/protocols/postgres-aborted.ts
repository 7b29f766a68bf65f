/**
 * PostgreSQL's transaction block after an injected error inside it. A real server, once a
 * statement fails in a block, answers every later statement with 25P02 (current transaction is
 * aborted) until the block ends, and answers its COMMIT with ROLLBACK. Withheld, the statement
 * would leave the server's block whole: a client told 'E' that goes on regardless would have its
 * later statements run and committed, where PostgreSQL would have refused them and rolled back.
 *
 * So the server is sent a statement that fails in the withheld one's place: its block is then
 * aborted for real, and every later request goes to it as it is, answered by the server itself
 * (25P02, ROLLBACK for COMMIT, either protocol, pipelined or not), at no cost to them. Its
 * ErrorResponse is replaced by the injected one; both end in ReadyForQuery 'E'.
 */
import { simpleQuery } from './postgres-commit.js';

/**
 * A simple Query that always fails, and says so in the server's log (also where it runs outside
 * a block, postgres-blocks.ts). Where PL/pgSQL or DO is missing (a PostgreSQL-compatible server)
 * it fails all the same, on that.
 */
export const ABORT_BLOCK: Buffer = simpleQuery(Buffer.from(
  "DO $$BEGIN RAISE EXCEPTION 'an error injected by the marteau-tui chaos proxy in place of a statement (it aborts the transaction block, if any)'; END$$\0",
  'latin1',
));

const IN_BLOCK = 0x54; // 'T': ReadyForQuery's status inside a transaction block that has not failed

/**
 * What the server is sent in place of a request withheld for an injected error, given the
 * transaction status of the last ReadyForQuery: ABORT_BLOCK inside a block, nothing outside one
 * (no block to abort) or in a failed one (already aborted). `unsure`: a request in flight ahead
 * of it may begin or end a block (postgres-blocks.ts), so the last status may not hold when it
 * runs: ABORT_BLOCK then too, which, outside a block, fails and leaves nothing behind (no
 * transaction id taken, nothing written; a rollback counted, an ERROR line in the server's log,
 * and the unnamed prepared statement dropped, as any simple query drops it).
 */
export function abortStandIn(txStatus: number, unsure = false): Buffer | undefined {
  return txStatus === IN_BLOCK || unsure ? ABORT_BLOCK : undefined;
}
