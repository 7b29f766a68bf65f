/**
 * The team queue's Lua scripts: what must happen atomically in Redis (an append with its gate
 * and wake-ups, a job's end with its node's next claim, node names taken for a worker, a chaos
 * change for the engine running a job).
 */

/** Wake-ups kept when no worker takes them (terminals enqueueing with no worker up). */
const WAKE_MAX = 10_000;
/** A notify list left by an engine that died is dropped after this long (ms). */
const NOTIFY_TTL_MS = 60 * 60_000;

/**
 * KEYS: log stream, claims hash, wake list. ARGV: read after this id, read count, mode, owner
 * key, alive-key prefix, a wake-up to push after the record ('' none), then by mode:
 *   plain:   record, then (a new job's) its files key and name/text pairs, stored with it;
 *   cancel:  record, job id, notify-key prefix: the job's id goes to its claimer's notify list;
 *   release: record (empty: none), job id, claim;
 *   claim:   claim, then job id and record pairs: the first job whose gate is free (no claim,
 *            or its holder's heartbeat is gone) is taken and its record appended;
 *   finish:  a job's end record, then as claim: the nodes it frees go to the next job at once.
 * A claimed job's first wake-up is taken off the list (one a worker passed on stays: the tick's net).
 * Returns {which claim record was appended (1-based; plain, cancel, release: 1), 0: none, the
 * entries after the read id}.
 */
export const APPEND_LUA = `
-- The engine holding a job's gate (its claims entry is "<claim> <owner>"), or nil.
local function holder_of(id)
  local cur = redis.call('HGET', KEYS[2], id)
  return cur and string.match(cur, '^%S+ (.+)$')
end
local function claim_first(first, claim)
  for i = first, #ARGV, 2 do
    local holder = holder_of(ARGV[i])
    if not (holder and redis.call('EXISTS', ARGV[5] .. holder) == 1) then
      redis.call('HSET', KEYS[2], ARGV[i], claim .. ' ' .. ARGV[4])
      redis.call('XADD', KEYS[1], '*', 'r', ARGV[i + 1])
      -- Its wake-up, if still waiting, would only wake a free worker for nothing.
      redis.call('LREM', KEYS[3], 1, ARGV[i] .. ' 0')
      return (i - first) / 2 + 1
    end
  end
  return 0
end
local added = 0
if ARGV[3] == 'claim' then
  added = claim_first(8, ARGV[7])
elseif ARGV[3] == 'finish' then
  redis.call('XADD', KEYS[1], '*', 'r', ARGV[7])
  added = claim_first(9, ARGV[8])
else
  if ARGV[3] == 'release' then
    local cur = redis.call('HGET', KEYS[2], ARGV[8])
    if cur and string.sub(cur, 1, #ARGV[9] + 1) == ARGV[9] .. ' ' then redis.call('HDEL', KEYS[2], ARGV[8]) end
  elseif ARGV[3] == 'cancel' then
    local holder = holder_of(ARGV[8])
    if holder then
      redis.call('RPUSH', ARGV[9] .. holder, ARGV[8])
      redis.call('PEXPIRE', ARGV[9] .. holder, ${NOTIFY_TTL_MS})
    end
  end
  if ARGV[3] == 'plain' and #ARGV > 8 then redis.call('HSET', ARGV[8], unpack(ARGV, 9)) end
  if ARGV[7] ~= '' then
    redis.call('XADD', KEYS[1], '*', 'r', ARGV[7])
    added = 1
  end
end
if ARGV[6] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[6])
  redis.call('LTRIM', KEYS[3], -${WAKE_MAX}, -1)
end
return {added, redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])}
`;

/** Take the node names unless a live engine other than this one holds one; returns the conflicts. */
export const NODES_LUA = `
local taken = {}
for i = 3, #ARGV do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur and cur ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. cur) == 1 then
    table.insert(taken, ARGV[i])
    table.insert(taken, cur)
  end
end
if #taken == 0 then
  for i = 3, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], ARGV[1]) end
end
return taken
`;

/** Free the names this engine holds (not those another took over meanwhile). */
export const NODES_RELEASE_LUA = `
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0
`;

/**
 * A chaos change for the engine holding a job (redis-chaos.ts). KEYS: log stream, claims hash,
 * the request's key. ARGV: job id, record, alive-key prefix, notify-key prefix, the key's TTL.
 * The record names its engine (field `w`), which alone applies it. Returns that engine's owner
 * key, or 0 when no live engine holds the job (nothing appended).
 */
export const CHAOS_ASK_LUA = `
local cur = redis.call('HGET', KEYS[2], ARGV[1])
local holder = cur and string.match(cur, '^%S+ (.+)$')
if not (holder and redis.call('EXISTS', ARGV[3] .. holder) == 1) then return 0 end
redis.call('XADD', KEYS[1], '*', 'r', ARGV[2], 'w', holder)
redis.call('SET', KEYS[3], 'pending', 'PX', ARGV[5])
redis.call('RPUSH', ARGV[4] .. holder, ARGV[1])
redis.call('PEXPIRE', ARGV[4] .. holder, ${NOTIFY_TTL_MS})
return holder
`;

/**
 * Its sender stops waiting: a request still pending is withdrawn, and the withdrawal recorded in
 * the same step, so the log says what became of every request (no `chaos-done` ever comes for
 * it). KEYS: the request's key, log stream, output stream. ARGV: the withdrawal record, job id,
 * the engine the request was pushed to, the job's output line saying so. The line goes out as
 * that engine's, the job's: every other process shows it with the job's output. Returns what
 * the key held.
 */
export const CHAOS_WITHDRAW_LUA = `
local v = redis.call('GET', KEYS[1])
if v == 'pending' then
  redis.call('DEL', KEYS[1])
  redis.call('XADD', KEYS[2], '*', 'r', ARGV[1])
  redis.call('XADD', KEYS[3], '*', 'j', ARGV[2], 'o', ARGV[3], 'l', ARGV[4])
end
return v
`;
