"""The Lua scripts that make each multi-key step atomic.

Every script touches the keys of one feed only (one hash tag), so each runs
unchanged on Redis Cluster.
"""

from __future__ import annotations

# KEYS: log, entries, versions, history, idempotency, scheduled, editorial,
#       meta (a create into a feed that does not exist writes nothing)
# ARGV: mode, id, expected version, new version, entry json, event json,
#       idempotency value ('' if none), idempotency ttl, schedule score
#       ('' to unschedule), editorial score
APPEND = """
local mode, id = ARGV[1], ARGV[2]
if mode == 'create' then
  if redis.call('EXISTS', KEYS[8]) == 0 then return {'nofeed', ''} end
  if ARGV[7] ~= '' then
    local prior = redis.call('GET', KEYS[5])
    if prior then return {'idem', prior} end
  end
  if redis.call('HEXISTS', KEYS[3], id) == 1 then return {'exists', ''} end
else
  local cur = redis.call('HGET', KEYS[3], id)
  if not cur then return {'missing', ''} end
  if cur ~= ARGV[3] then return {'stale', cur} end
end
local lid = redis.call('XADD', KEYS[1], '*', 'ev', ARGV[6])
redis.call('HSET', KEYS[2], id, ARGV[5])
redis.call('HSET', KEYS[3], id, ARGV[4])
redis.call('RPUSH', KEYS[4], ARGV[6])
if ARGV[9] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[9], id)
else
  redis.call('ZREM', KEYS[6], id)
end
redis.call('ZADD', KEYS[7], ARGV[10], id)
if mode == 'create' and ARGV[7] ~= '' then
  redis.call('SET', KEYS[5], ARGV[7] .. '|' .. id, 'EX', ARGV[8])
end
return {'ok', lid}
"""

# KEYS: public pos, public, timeline, live, log, key-events timeline,
#       webhook pos, webhook lag
# ARGV: expected pos ('' when none yet), new pos, live maxlen,
#       then groups of seven: type, id, version, data, member, old member,
#       key event ('1' puts the member in the key-events timeline too)
# Fenced twice: the position must be the one the batch was read after, and
# the batch's last event must still be in the log (a feed that was wiped and
# created again also starts from an empty position).
# The live stream keeps its last ``maxlen`` messages, but never trims what
# the webhook dispatcher has not queued yet: while the feed has webhooks the
# lag counter says how many messages follow the dispatch position, and once
# that reaches ``maxlen`` the trim stops at the dispatch position instead.
PROJECT = """
local pos = redis.call('GET', KEYS[1]) or ''
if pos ~= ARGV[1] then return 0 end
if #redis.call('XRANGE', KEYS[5], ARGV[2], ARGV[2]) == 0 then return 0 end
local added = 0
for i = 4, #ARGV, 7 do
  local t, id, v, d, m, om = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
  if om ~= '' then
    redis.call('ZREM', KEYS[3], om)
    redis.call('ZREM', KEYS[6], om)
  end
  if t == 'retract' then
    redis.call('HDEL', KEYS[2], id)
  else
    redis.call('HSET', KEYS[2], id, d)
    redis.call('ZADD', KEYS[3], 0, m)
    if ARGV[i+6] == '1' then redis.call('ZADD', KEYS[6], 0, m) end
  end
  redis.call('XADD', KEYS[4], '*', 't', t, 'i', id, 'v', v, 'd', d)
  added = added + 1
end
local wpos = redis.call('GET', KEYS[7])
if wpos and redis.call('INCRBY', KEYS[8], added) >= tonumber(ARGV[3]) then
  redis.call('XTRIM', KEYS[4], 'MINID', '~', wpos)
else
  redis.call('XTRIM', KEYS[4], 'MAXLEN', '~', ARGV[3])
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

# KEYS: checkpoint, checkpoint pos, log
# ARGV: expected checkpoint pos ('' when none yet), new pos, min id to keep,
#       then pairs: entry id, folded entry json
TRIM = """
local pos = redis.call('GET', KEYS[2]) or ''
if pos ~= ARGV[1] then return 0 end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i+1]) end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('XTRIM', KEYS[3], 'MINID', ARGV[3])
return 1
"""

# KEYS: log, public pos, entries, versions, scheduled, editorial, public, timeline,
#       key-events timeline
# ARGV: expected newest log id ('' when empty), expected public pos,
#       E, then E groups (id, entry json, version, editorial score),
#       S, then S pairs (id, publish time), then groups (id, public json, member,
#       key event '1'/'0')
# Rewrites the materialised state of a feed, unless the log or the public
# position moved since the state was folded (then returns 0).
REBUILD = """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local last = ''
if newest[1] then last = newest[1][1] end
if last ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then return 0 end
for i = 3, 9 do redis.call('DEL', KEYS[i]) end
local i = 3
local n = tonumber(ARGV[i])
i = i + 1
for _ = 1, n do
  local id = ARGV[i]
  redis.call('HSET', KEYS[3], id, ARGV[i+1])
  redis.call('HSET', KEYS[4], id, ARGV[i+2])
  redis.call('ZADD', KEYS[6], ARGV[i+3], id)
  i = i + 4
end
n = tonumber(ARGV[i])
i = i + 1
for _ = 1, n do
  redis.call('ZADD', KEYS[5], ARGV[i+1], ARGV[i])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HSET', KEYS[7], ARGV[i], ARGV[i+1])
  redis.call('ZADD', KEYS[8], 0, ARGV[i+2])
  if ARGV[i+3] == '1' then redis.call('ZADD', KEYS[9], 0, ARGV[i+2]) end
  i = i + 4
end
return 1
"""

# The live stream's bounds: epoch, last generated id, and the newest id that
# may have been removed. XDEL records that in max-deleted-entry-id, but MAXLEN
# trimming does not (Redis and valkey only move recorded-first-entry-id), so
# once anything was removed (entries-added > length) every id before the
# first remaining entry counts as removed: its predecessor is the bound. A
# reader exactly at that predecessor resumes; any older one is reset, which
# may reset a reader that lost nothing but never lets one skip a message.
_BOUNDS = """
local function id_parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function id_less(a, b)
  local ams, aseq = id_parts(a)
  local bms, bseq = id_parts(b)
  return ams < bms or (ams == bms and aseq < bseq)
end
local function id_before(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if seq ~= '0' then return ms .. '-' .. string.format('%.0f', tonumber(seq) - 1) end
  if ms == '0' then return '0-0' end
  return string.format('%.0f', tonumber(ms) - 1) .. '-18446744073709551615'
end
local function bounds(live, epoch, at)
  local ep = redis.call('GET', epoch) or ''
  local present = 1
  if at and at ~= '' and at ~= '0-0' then
    present = #redis.call('XRANGE', live, at, at)
  end
  if redis.call('EXISTS', live) == 0 then return {ep, '0-0', '0-0', present} end
  local info = redis.call('XINFO', 'STREAM', live)
  local last, deleted, first, added, length = '0-0', '0-0', nil, nil, 0
  for i = 1, #info, 2 do
    local k = info[i]
    if k == 'last-generated-id' then last = info[i+1] end
    if k == 'max-deleted-entry-id' then deleted = info[i+1] end
    if k == 'recorded-first-entry-id' then first = info[i+1] end
    if k == 'entries-added' then added = info[i+1] end
    if k == 'length' then length = info[i+1] end
  end
  if added and added > length then
    local trimmed = last
    if length > 0 and first then trimmed = id_before(first) end
    if id_less(deleted, trimmed) then deleted = trimmed end
  end
  return {ep, last, deleted, present}
end
"""

# KEYS: timeline, public, live, epoch
# ARGV: start ('+' or '(<member>'), limit
# Returns: epoch, last id, max deleted id, 1, then (member, json) pairs.
READ_TIMELINE = (
    _BOUNDS
    + """
local out = bounds(KEYS[3], KEYS[4], '')
local members = redis.call('ZRANGE', KEYS[1], ARGV[1], '-', 'BYLEX', 'REV', 'LIMIT', 0, ARGV[2])
for _, m in ipairs(members) do
  local id = string.match(m, '[^:]+$')
  local data = redis.call('HGET', KEYS[2], id)
  if data then
    out[#out + 1] = m
    out[#out + 1] = data
  end
end
return out
"""
)

# KEYS: live, epoch; ARGV: a position to ask about ('' for none).
# Returns: epoch, last id, max deleted id, 1 if that position is a message
# of the stream (or none was asked about, or it is 0-0), else 0.
BOUNDS = (
    _BOUNDS
    + """
return bounds(KEYS[1], KEYS[2], ARGV[1])
"""
)


# KEYS: a string; ARGV: expected value ('' when unset), new value.
# Sets it only if nobody moved it since it was read (a fence for positions).
COMPARE_AND_SET = """
local cur = redis.call('GET', KEYS[1]) or ''
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

# KEYS: documents hash, live stream
# ARGV: the live position the documents were rendered at, then field/value pairs.
# Writes unless a rendering of a later position is there (positions compare as
# stream ids; the same position may be re-rendered, e.g. for a new feed title).
PUT_DOCUMENTS = """
local function parse(s)
  local ms, seq = string.match(s, '^(%d+)%-(%d+)$')
  if not ms then return {-1, -1} end
  return {tonumber(ms), tonumber(seq)}
end
local cur = redis.call('HGET', KEYS[1], 'pos')
if cur then
  local a, b = parse(cur), parse(ARGV[1])
  if a[1] > b[1] or (a[1] == b[1] and a[2] > b[2]) then return 0 end
end
redis.call('HSET', KEYS[1], 'pos', ARGV[1], unpack(ARGV, 2))
return 1
"""

# KEYS: a stream; ARGV: exclusive start id, cap. How many entries follow it.
COUNT_AFTER = """
return #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
"""

# -- webhooks ------------------------------------------------------------------
# KEYS: webhooks, webhook pos, webhook lag, live
# ARGV: max webhooks, id, webhook json
# The feed's first webhook starts the dispatch position at the live stream's
# end (and the lag at zero): it gets the messages appended from then on.
ADD_WEBHOOK = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 0 then
  local last = redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', 1)
  local pos = '0-0'
  if last[1] then pos = last[1][1] end
  redis.call('SET', KEYS[2], pos)
  redis.call('SET', KEYS[3], 0)
end
return 1
"""

# KEYS: webhooks, queue, items, webhook pos, webhook lag, webhook epoch
# ARGV: id
# The webhook's queued deliveries go with it; with the feed's last webhook
# the dispatch position, the lag and the epoch go too (nothing holds the
# live trim).
DELETE_WEBHOOK = """
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[4], KEYS[5], KEYS[6]) end
return n
"""

# KEYS: webhook pos, webhook lag, webhooks, then (queue, items) per webhook,
#       then the webhook epoch
# ARGV: expected pos, new pos, messages read, N webhooks, the live epoch the
#       batch was read in ('' to leave it), N webhook ids,
#       then groups of four: webhook index (1-based), delivery id, due ms, json
# Queues a batch of deliveries and moves the dispatch position in one step,
# fenced by the position: a batch is queued once or not at all, and a
# webhook deleted since the batch was read gets nothing.
DISPATCH = """
local pos = redis.call('GET', KEYS[1]) or ''
if pos ~= ARGV[1] then return 0 end
local nh = tonumber(ARGV[4])
local alive = {}
for h = 1, nh do alive[h] = redis.call('HEXISTS', KEYS[3], ARGV[5 + h]) == 1 end
if ARGV[5] ~= '' then redis.call('SET', KEYS[#KEYS], ARGV[5]) end
for i = 6 + nh, #ARGV, 4 do
  local h = tonumber(ARGV[i])
  if alive[h] and redis.call('ZADD', KEYS[2 + 2 * h], 'NX', ARGV[i + 2], ARGV[i + 1]) == 1 then
    redis.call('HSET', KEYS[3 + 2 * h], ARGV[i + 1], ARGV[i + 3])
  end
end
redis.call('SET', KEYS[1], ARGV[2])
if redis.call('DECRBY', KEYS[2], ARGV[3]) < 0 then redis.call('SET', KEYS[2], 0) end
return 1
"""

# KEYS: queue, items
# ARGV: now ms, lease end ms, at most N
# Claims up to N due deliveries (their score moves to the lease end: a worker
# that dies holding them gives them back when it runs out). Returns
# (id, json) pairs, then the next due score of what is left ('' if none).
CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local rec = redis.call('HGET', KEYS[2], id)
  if rec then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = rec
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
out[#out + 1] = nxt[2] or ''
return out
"""

# KEYS: queue, items
# ARGV: id, due ms, json (the next attempt)
# Unless the delivery is gone (its webhook deleted), schedule its next attempt.
RESCHEDULE = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# KEYS: queue, items
# ARGV: id, due ms, json
# Queue one delivery unless that id is queued already.
ENQUEUE = """
if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
return 1
"""

# KEYS: queue, items, dead letters
# ARGV: id, dead-letter json ('' on success), dead letters kept
FINISH = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[2] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[2])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
end
return 1
"""

# KEYS: meta, epoch
# ARGV: title, timezone, created_at (ms), epoch token, language
# The second step of creating a feed (the first is SADD to the registry,
# which lives in another slot): 0 if the feed's meta exists already.
CREATE_FEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'title', ARGV[1], 'timezone', ARGV[2], 'created_at', ARGV[3],
           'language', ARGV[5])
redis.call('SET', KEYS[2], ARGV[4], 'NX')
return 1
"""

# KEYS: list; ARGV: value, cap
# LPUSH and trim to the cap in one step (a cluster pipeline has no MULTI).
PUSH_CAPPED = """
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
"""
