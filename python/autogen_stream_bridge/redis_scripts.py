"""The worker host's Lua scripts (EVALSHA, loaded by redis-py on first use).

Each is one atomic step of docs/redis.md that must not be split:

CLAIM   a request's run is taken only if its meta.state is still `queued`
        (a run cancelled while queued is not started), and the request is
        XACKed and deleted in the same step, so no other host can get it
        too and the requests stream holds only requests not yet served. (Again
        for this host's own claim whose reply was lost.) Also returns the
        log's last seq: the host's frames follow whatever is there (the
        gateway's `started`, seq 0).

APPEND  a run's frames with ids `<seq>-1`, stopping at the first id that
        is already taken by a different frame: a gateway that found this
        host dead wrote its terminal frame there, and nothing may follow it.
        An id taken by the same frame is this host's own write, whose reply
        was lost (a retry after a dropped connection): skipped, not a
        conflict. With the terminal frame come meta.state `ended`,
        meta.outcome and the expiry of every key of the run, and, for a
        thread's run (KEYS[8], the thread's record), the run's end in its
        thread: the state it saved, its usage, its summary, the thread idle
        again (docs/redis.md, Threads), in the same step, so a start right
        after the terminal frame finds the thread free and the state in.
        The question an interrupted run's state waits at (``pending``) comes
        and goes with the state, as memory-threads.ts's finish: a run that
        saves a state sets it (``interrupted``) or clears it (any other
        outcome); a run that saves none leaves both, so the same answer can
        be sent again.
        Then the base of the run's credit (the slowest live reader's
        committed position, else `far`, else 0) and the trim of the read
        tail.
"""

from __future__ import annotations

# Reply: {claimed (0/1), meta.runId ('' if none), the log's last seq (-1: empty),
# meta.thread (the key of the run's thread record, as its gateway made it; '' if none)}.
CLAIM = """
-- KEYS: requests, meta, log
-- ARGV: entry id, host id, group
local state = redis.call('HGET', KEYS[2], 'state')
local mine = 0
if state == 'queued' then
  redis.call('HSET', KEYS[2], 'state', 'running', 'host', ARGV[2])
  mine = 1
elseif state == 'running' and redis.call('HGET', KEYS[2], 'host') == ARGV[2] then
  mine = 1
end
redis.call('XACK', KEYS[1], ARGV[3], ARGV[1])
-- Served: the request leaves the stream (which would otherwise grow for ever).
redis.call('XDEL', KEYS[1], ARGV[1])
local run_id = redis.call('HGET', KEYS[2], 'runId')
if not run_id then run_id = '' end
local head = -1
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if #last > 0 then
  head = tonumber(string.match(last[1][1], '^(%d+)-'))
end
return {mine, run_id, head, redis.call('HGET', KEYS[2], 'thread') or ''}
"""

# Reply: {frames written, conflict (0/1), base, live readers}.
APPEND = """
-- KEYS: log, meta, ctl, inputs, readers, alive, far, and for a thread's run
--       with its terminal frame, 8 the thread's record
-- ARGV: 1 the key prefix (gateways' heartbeat keys), 2 reader ttl (ms), 3 retain events, 4 lowest seq to keep
--       by bytes (0: none), 5 expiry after the end (ms), 6 outcome ('' unless
--       the last frame is terminal), 7 head (the last seq written before),
--       8 frame count, then per frame: seq, data, input request id ('' none),
--       then with KEYS[8]: the run's key, the state ('' none saved), prompt
--       and completion tokens ('' unknown), the question the state waits at
--       (JSON {requestId, prompt, source?}; '' unless the run was interrupted)
local n = tonumber(ARGV[8])
local head = tonumber(ARGV[7])
local written = 0
local conflict = 0
for i = 0, n - 1 do
  local seq = ARGV[9 + i * 3]
  local data = ARGV[10 + i * 3]
  local request = ARGV[11 + i * 3]
  local id = seq .. '-1'
  local added = redis.pcall('XADD', KEYS[1], id, 'f', data)
  if type(added) == 'table' and added.err then
    local entry = redis.call('XRANGE', KEYS[1], id, id)
    if #entry == 0 or entry[1][2][1] ~= 'f' or entry[1][2][2] ~= data then
      conflict = 1
      break
    end
  end
  if request ~= '' then
    redis.call('SADD', KEYS[4], request)
  end
  written = written + 1
  head = tonumber(seq)
end
-- Redis's clock, not the host's: gateways score their readers with it too.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if conflict == 0 and ARGV[6] ~= '' then
  redis.call('HSET', KEYS[2], 'state', 'ended', 'outcome', ARGV[6])
  for i = 1, 7 do
    redis.call('PEXPIRE', KEYS[i], ARGV[5])
  end
  -- Only while the record still names this run: a thread forgotten
  -- meanwhile (its anonymous owner's connection closed) is not made again,
  -- and a run whose end a gateway already wrote (its host taken for dead)
  -- keeps nothing.
  local thread = KEYS[8]
  local t = 9 + n * 3
  if thread and redis.call('HGET', thread, 'active') == ARGV[t] then
    local state, prompt, completion, pending = ARGV[t + 1], ARGV[t + 2], ARGV[t + 3], ARGV[t + 4]
    local ok, runs = pcall(cjson.decode, redis.call('HGET', thread, 'runs') or '[]')
    if not ok or type(runs) ~= 'table' then runs = {} end
    for i = #runs, 1, -1 do
      if type(runs[i]) == 'table' and runs[i].key == ARGV[t] then
        runs[i].endedAt = now
        runs[i].outcome = ARGV[6]
        runs[i].stateSaved = state ~= ''
        if prompt ~= '' then
          runs[i].usage = {prompt_tokens = tonumber(prompt), completion_tokens = tonumber(completion)}
        end
        break
      end
    end
    if #runs > 0 then redis.call('HSET', thread, 'runs', cjson.encode(runs)) end
    if prompt ~= '' then
      redis.call('HINCRBY', thread, 'prompt', prompt)
      redis.call('HINCRBY', thread, 'completion', completion)
    end
    if state ~= '' then
      redis.call('HSET', thread, 'state', state, 'stateBytes', #state)
      if pending ~= '' then
        redis.call('HSET', thread, 'pending', pending)
      else
        redis.call('HDEL', thread, 'pending')
      end
    end
    redis.call('HSET', thread, 'updated', now)
    redis.call('HDEL', thread, 'active', 'activeRunId')
    -- Idle again: kept threadRetention from now, the most recently used of its owner.
    local retention = redis.call('HGET', thread, 'retention')
    local index = redis.call('HGET', thread, 'index')
    local thread_id = redis.call('HGET', thread, 'threadId')
    if retention then redis.call('PEXPIRE', thread, retention) end
    if index and thread_id then
      redis.call('ZADD', index, now, thread_id)
      if retention then redis.call('PEXPIRE', index, retention) end
    end
  end
end
local live = redis.call('ZRANGEBYSCORE', KEYS[6], now - tonumber(ARGV[2]), '+inf')
local base = nil
local readers = 0
for _, reader in ipairs(live) do
  local position = tonumber(redis.call('HGET', KEYS[5], reader))
  -- A gateway's reader (g:<gateway>:<n>) counts only while its gateway's
  -- heartbeat key lives: a killed gateway does not hold its runs for readerTtl.
  if position ~= nil and string.sub(reader, 1, 2) == 'g:' then
    local gateway = string.match(reader, '^g:([^:]+):')
    if gateway and redis.call('EXISTS', ARGV[1] .. 'gateway:' .. gateway) == 0 then
      position = nil
    end
  end
  if position ~= nil then
    readers = readers + 1
    if base == nil or position < base then
      base = position
    end
  end
end
if base == nil then
  base = tonumber(redis.call('GET', KEYS[7])) or 0
end
if base > head then
  base = head
end
if base < 0 then
  base = 0
end
if conflict == 0 then
  local minid = base - tonumber(ARGV[3]) + 1
  local by_bytes = tonumber(ARGV[4])
  if by_bytes > base + 1 then
    by_bytes = base + 1
  end
  if by_bytes > minid then
    minid = by_bytes
  end
  -- Never the newest entry (the terminal frame is always kept).
  if minid > head then
    minid = head
  end
  if minid > 0 then
    redis.call('XTRIM', KEYS[1], 'MINID', minid)
  end
end
return {written, conflict, base, readers}
"""
