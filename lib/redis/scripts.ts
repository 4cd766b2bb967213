import { THREAD_RUNS_KEPT } from '../store/types.js'

/*
 * The gateway's Lua scripts: each is one atomic step that other gateways
 * and the host may race with.
 *
 * A key a gateway writes after the run ended (a late commit) takes the
 * meta hash's remaining time to live, so nothing of a run outlives it.
 */

/** KEYS readers alive far ctl meta; ARGV readerId position. Scored with Redis's clock, as the hosts read it. */
export const COMMIT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local time = redis.call('TIME')
redis.call('ZADD', KEYS[2], tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000), ARGV[1])
local far = tonumber(redis.call('GET', KEYS[3]) or '-1')
if tonumber(ARGV[2]) > far then redis.call('SET', KEYS[3], ARGV[2]) end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 1000, '*', 'op', 'ack')
local ttl = redis.call('PTTL', KEYS[5])
if ttl > 0 then
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
`

/** KEYS readers alive meta; ARGV readerId. A reader that leaves no longer holds the run. */
export const LEAVE = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`

/** KEYS inputs ctl meta; ARGV requestId content. The first answer wins, on any gateway. */
export const ANSWER = `
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', 'op', 'input', 'requestId', ARGV[1], 'content', ARGV[2])
return 1
`

/** KEYS ctl meta; ARGV op [field value]...: cancel or stop, unless the run has ended. */
export const CONTROL = `
if redis.call('HGET', KEYS[2], 'state') == 'ended' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local args = {'XADD', KEYS[1], 'MAXLEN', '~', 1000, '*', 'op'}
for i = 1, #ARGV do args[#args + 1] = ARGV[i] end
redis.call(unpack(args))
return 1
`

/*
 * Functions the scripts below share (each script is sent whole: Redis
 * scripts cannot call each other).
 *
 * host_gone: the host of a running run is gone (its heartbeat key
 * expired): the run's terminal error with the next seq, once. The seq
 * written, or -1 when there is nothing to do (ended, not started, host
 * alive).
 *
 * Threads (docs/redis.md, Threads): the worker host ends its run in the
 * thread's record with the terminal frame (python redis_scripts.py,
 * APPEND: state, usage, run summary). A run that ends without its host
 * (the host died) is ended here instead, as an error that saved nothing:
 * by HOST_GONE, or by `settle` when a script finds a thread whose active
 * run can no longer end it (ended or gone from Redis without its host's
 * end; running on a dead host that nobody reads): so no thread stays busy
 * for ever, whoever saw the death first.
 */
const LIB = `
local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

local function run_keys(prefix, run)
  local p = prefix .. 'run:' .. run .. ':'
  return {p .. 'log', p .. 'meta', p .. 'ctl', p .. 'inputs', p .. 'readers', p .. 'alive', p .. 'far'}
end

local function host_gone(prefix, keys, code, message, after_end)
  local state = redis.call('HGET', keys[2], 'state')
  if state ~= 'running' then return -1 end
  local host = redis.call('HGET', keys[2], 'host')
  if not host then return -1 end
  if redis.call('EXISTS', prefix .. 'host:' .. host) == 1 then return -1 end
  local last = redis.call('XREVRANGE', keys[1], '+', '-', 'COUNT', 1)
  local seq = 0
  if #last > 0 then
    local id = last[1][1]
    seq = tonumber(string.sub(id, 1, string.find(id, '-') - 1)) + 1
  end
  local runId = redis.call('HGET', keys[2], 'runId') or ''
  local frame = '{"type":"error","runId":' .. cjson.encode(runId) .. ',"seq":' .. seq .. ',"code":' .. cjson.encode(code) .. ',"message":' .. cjson.encode(message) .. '}'
  redis.call('XADD', keys[1], seq .. '-1', 'f', frame)
  redis.call('HSET', keys[2], 'state', 'ended', 'outcome', 'error')
  for i = 1, #keys do redis.call('PEXPIRE', keys[i], after_end) end
  return seq
end

-- Idle again: kept threadRetention from now (the record's own), and the
-- most recently used of its owner. The index is kept as long as its
-- newest idle thread (a thread busy for longer than threadRetention with
-- no other use of its owner's threads may miss from the count meanwhile).
local function thread_idle(thread, now)
  local retention = redis.call('HGET', thread, 'retention')
  local index = redis.call('HGET', thread, 'index')
  local threadId = redis.call('HGET', thread, 'threadId')
  if retention then redis.call('PEXPIRE', thread, retention) end
  if index and threadId then
    redis.call('ZADD', index, now, threadId)
    if retention then redis.call('PEXPIRE', index, retention) end
  end
end

-- Run K ended without its host: no state, no usage (the host knew them).
local function thread_release(thread, run, outcome, now)
  if redis.call('HGET', thread, 'active') ~= run then return end
  local ok, runs = pcall(cjson.decode, redis.call('HGET', thread, 'runs') or '[]')
  if not ok or type(runs) ~= 'table' then runs = {} end
  for i = #runs, 1, -1 do
    if type(runs[i]) == 'table' and runs[i].key == run then
      runs[i].endedAt = now
      runs[i].outcome = outcome
      runs[i].stateSaved = false
      break
    end
  end
  if #runs > 0 then redis.call('HSET', thread, 'runs', cjson.encode(runs)) end
  redis.call('HSET', thread, 'updated', now)
  redis.call('HDEL', thread, 'active', 'activeRunId')
  thread_idle(thread, now)
end

local function settle(prefix, thread, code, message, after_end)
  local run = redis.call('HGET', thread, 'active')
  if not run then return end
  local keys = run_keys(prefix, run)
  local state = redis.call('HGET', keys[2], 'state')
  -- Waiting for a host: it is still to run.
  if state == 'queued' then return end
  if state == 'running' and host_gone(prefix, keys, code, message, after_end) < 0 then return end
  local outcome = redis.call('HGET', keys[2], 'outcome')
  if outcome ~= 'result' and outcome ~= 'cancelled' and outcome ~= 'interrupted' then outcome = 'error' end
  thread_release(thread, run, outcome, now_ms())
end
`

/**
 * KEYS log meta ctl inputs readers alive far; ARGV prefix code message afterEndMs runKey.
 * HOST_GONE of LIB for the run whose reader found its log quiet; its
 * thread, if it has one, is idle again (the run saved nothing).
 */
export const HOST_GONE = `${LIB}
local seq = host_gone(ARGV[1], KEYS, ARGV[2], ARGV[3], ARGV[4])
if seq >= 0 then
  local thread = redis.call('HGET', KEYS[2], 'thread')
  if thread then thread_release(thread, ARGV[5], 'error', now_ms()) end
end
return seq
`

/**
 * KEYS thread index; ARGV 1 prefix, 2 threadId, 3 the owner's thread key
 * prefix, 4 run key K, 5 runId, 6 maxThreadsPerIdentity, 7 threadRetention,
 * 8 retainAfterEnd, 9 and 10 a dead host's code and message, 11 owner,
 * 12 the record's `pending` as the gateway read it for a start that
 * answers it ('' for any other start), 13 the start's command count, then
 * each command as its arg count and args.
 *
 * A thread run's start: the claim (a busy thread is refused; a new thread
 * beyond maxThreadsPerIdentity forgets the owner's least recently used
 * idle one, or is refused) and the run's own start (its meta, lookups,
 * `started`, request), in one step: no gateway ever sees a thread claimed
 * by a run that does not exist, and a refused start leaves nothing. A
 * start with an answer is claimed only while the record still waits at
 * the very question the gateway read (the same `pending`, byte for byte:
 * the request the gateway wrote carries its prompt and source), else
 * {0, 'unknown'}, as memory-threads.ts's claim(answerTo): checked before
 * busy, and the same for no thread and another identity's (another key).
 * Reply {1}, {0, 'unknown'}, {0, 'busy', activeRunId} or {0, 'full'}.
 */
export const THREAD_START = `${LIB}
local prefix = ARGV[1]
local now = now_ms()
if ARGV[12] ~= '' and redis.call('HGET', KEYS[1], 'pending') ~= ARGV[12] then
  return {0, 'unknown'}
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  settle(prefix, KEYS[1], ARGV[9], ARGV[10], ARGV[8])
  if redis.call('HEXISTS', KEYS[1], 'active') == 1 then
    return {0, 'busy', redis.call('HGET', KEYS[1], 'activeRunId') or ''}
  end
else
  local kept = 0
  local idle = nil
  -- Least recently used first.
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local thread = ARGV[3] .. id
    if redis.call('EXISTS', thread) == 0 then
      -- Expired (threadRetention) or deleted.
      redis.call('ZREM', KEYS[2], id)
    else
      kept = kept + 1
      settle(prefix, thread, ARGV[9], ARGV[10], ARGV[8])
      if idle == nil and redis.call('HEXISTS', thread, 'active') == 0 then idle = id end
    end
  end
  if kept >= tonumber(ARGV[6]) then
    if idle == nil then return {0, 'full'} end
    redis.call('DEL', ARGV[3] .. idle)
    redis.call('ZREM', KEYS[2], idle)
  end
  redis.call('HSET', KEYS[1], 'owner', ARGV[11], 'threadId', ARGV[2], 'index', KEYS[2], 'created', now, 'prompt', 0, 'completion', 0, 'stateBytes', 0)
end
local ok, runs = pcall(cjson.decode, redis.call('HGET', KEYS[1], 'runs') or '[]')
if not ok or type(runs) ~= 'table' then runs = {} end
runs[#runs + 1] = {runId = ARGV[5], key = ARGV[4], startedAt = now}
while #runs > ${THREAD_RUNS_KEPT} do table.remove(runs, 1) end
redis.call('HSET', KEYS[1], 'runs', cjson.encode(runs), 'active', ARGV[4], 'activeRunId', ARGV[5], 'updated', now, 'retention', ARGV[7])
-- A thread with an active run never expires: its run's end (or its host's death) makes it idle again.
redis.call('PERSIST', KEYS[1])
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
local at = 14
for _ = 1, tonumber(ARGV[13]) do
  local argc = tonumber(ARGV[at])
  redis.call(unpack(ARGV, at + 1, at + argc))
  at = at + argc + 1
end
return {1}
`

/**
 * KEYS thread; ARGV prefix afterEndMs code message. The record a `thread`
 * frame shows (settled first: a thread whose run died unread shows it
 * ended), without the state itself, with the question its state waits at
 * (`pending`, JSON); nil when there is none.
 */
export const THREAD_READ = `${LIB}
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
settle(ARGV[1], KEYS[1], ARGV[3], ARGV[4], ARGV[2])
return redis.call('HMGET', KEYS[1], 'threadId', 'runs', 'prompt', 'completion', 'stateBytes', 'created', 'updated', 'activeRunId', 'pending')
`

/**
 * KEYS thread index; ARGV prefix threadId afterEndMs code message.
 * Forgets an idle thread: {1}; {0} when there is none; {0, activeRunId}
 * while a run holds it.
 */
export const THREAD_DELETE = `${LIB}
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
settle(ARGV[1], KEYS[1], ARGV[4], ARGV[5], ARGV[3])
if redis.call('HEXISTS', KEYS[1], 'active') == 1 then
  return {0, redis.call('HGET', KEYS[1], 'activeRunId') or ''}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return {1}
`

/**
 * KEYS index; ARGV the owner's thread key prefix. Every thread of an owner
 * goes, busy ones too: their runs end without saving (the host ends a
 * run in its thread only while the record names that run).
 */
export const THREADS_FORGET = `
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  redis.call('DEL', ARGV[1] .. id)
end
redis.call('DEL', KEYS[1])
return 1
`
