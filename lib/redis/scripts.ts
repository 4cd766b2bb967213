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

/**
 * KEYS log meta ctl inputs readers alive far; ARGV prefix code message afterEndMs.
 * The host of a running run is gone (its heartbeat key expired): write the
 * run's terminal error with the next seq, once. Returns the seq written, or
 * -1 when there is nothing to do (ended, not started, host alive).
 */
export const HOST_GONE = `
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'running' then return -1 end
local host = redis.call('HGET', KEYS[2], 'host')
if not host then return -1 end
if redis.call('EXISTS', ARGV[1] .. 'host:' .. host) == 1 then return -1 end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local seq = 0
if #last > 0 then
  local id = last[1][1]
  seq = tonumber(string.sub(id, 1, string.find(id, '-') - 1)) + 1
end
local runId = redis.call('HGET', KEYS[2], 'runId') or ''
local frame = '{"type":"error","runId":' .. cjson.encode(runId) .. ',"seq":' .. seq .. ',"code":' .. cjson.encode(ARGV[2]) .. ',"message":' .. cjson.encode(ARGV[3]) .. '}'
redis.call('XADD', KEYS[1], seq .. '-1', 'f', frame)
redis.call('HSET', KEYS[2], 'state', 'ended', 'outcome', 'error')
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return seq
`
