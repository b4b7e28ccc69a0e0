package redisstore

import (
	"sync"

	"github.com/redis/go-redis/v9"
)

// Layout: a record is the hash PREFIX "r:" KEY; attributes are fields under their own
// names, and the record's own fields start with "_" (attribute names cannot):
//
//	_v version | _p pending index | _s pending since (unix µs) | _e expiry (unix ms)
//
// A pending index is the sorted set PREFIX "p:" INDEX with score = since µs (exact in
// a double up to year 2255) and member = KEY; equal scores order by member bytes.
//
// Each operation is one script, so the condition check, the hash write, the version
// bump and the index moves are atomic and cost one round trip. The scripts touch index
// keys they compute themselves, which a Redis Cluster would reject: use one node (with
// replicas/Sentinel as you like).

// prelude is shared by the write scripts.
const prelude = `
-- cond_holds evaluates a store.Condition encoded from ARGV[i] on:
-- absent(0/1) exists(0/1) version ntests {name nvalues values...}
local function cond_holds(rkey, i)
  local live = redis.call('EXISTS', rkey) == 1
  local ok = true
  if ARGV[i] == '1' and live then ok = false end
  if ARGV[i+1] == '1' and not live then ok = false end
  local ver = tonumber(ARGV[i+2])
  if ver ~= 0 and (not live or tonumber(redis.call('HGET', rkey, '_v')) ~= ver) then ok = false end
  local ntests = tonumber(ARGV[i+3])
  i = i + 4
  for t = 1, ntests do
    local name, nv = ARGV[i], tonumber(ARGV[i+1])
    i = i + 2
    if ok then
      if not live then
        ok = false
      else
        local cur = redis.call('HGET', rkey, name) or ''
        local found = false
        for j = i, i + nv - 1 do
          if ARGV[j] == cur then found = true break end
        end
        ok = found
      end
    end
    i = i + nv
  end
  return ok, i
end

-- unindex removes the record from the pending index it is in, if any.
local function unindex(rkey, zprefix, member)
  local p = redis.call('HGET', rkey, '_p')
  if p then redis.call('ZREM', zprefix .. p, member) end
end

-- hset writes field/value pairs in chunks (Lua's unpack has a stack limit).
local function hset(rkey, kv)
  for s = 1, #kv, 200 do
    redis.call('HSET', rkey, unpack(kv, s, math.min(s + 199, #kv)))
  end
end
`

// putSource: KEYS[1] record hash; ARGV: zprefix member cond... pending since expiry
// nattrs {name value}. Returns {1, version} or {0, current hash}.
const putSource = prelude + `
local rkey, zprefix, member = KEYS[1], ARGV[1], ARGV[2]
local ok, i = cond_holds(rkey, 3)
if not ok then return {0, redis.call('HGETALL', rkey)} end
local ver = 1
if redis.call('EXISTS', rkey) == 1 then
  ver = tonumber(redis.call('HGET', rkey, '_v')) + 1
  unindex(rkey, zprefix, member)
  redis.call('DEL', rkey)
end
local pending, since, exp, n = ARGV[i], ARGV[i+1], ARGV[i+2], tonumber(ARGV[i+3])
i = i + 4
local kv = {'_v', ver}
if pending ~= '' then
  table.insert(kv, '_p'); table.insert(kv, pending)
  table.insert(kv, '_s'); table.insert(kv, since)
  redis.call('ZADD', zprefix .. pending, since, member)
end
if exp ~= '' then table.insert(kv, '_e'); table.insert(kv, exp) end
for j = i, i + 2*n - 1 do table.insert(kv, ARGV[j]) end
hset(rkey, kv)
if exp ~= '' then redis.call('PEXPIREAT', rkey, exp) end
return {1, ver}
`

// updateSource: KEYS[1] record hash; ARGV: zprefix member maxsize cond... nset
// {name value} nremove {name} pendingop(”/'0'/'1') pending since expiryop(”/'0'/'1')
// expiry. Returns {1, new hash}, {0, current hash} or {2, size} when the record would
// grow past maxsize (nothing written: the check runs before any write).
const updateSource = prelude + `
local rkey, zprefix, member, maxsize = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local ok, i = cond_holds(rkey, 4)
if not ok or redis.call('EXISTS', rkey) == 0 then return {0, redis.call('HGETALL', rkey)} end
local nset = tonumber(ARGV[i]); local sets = i + 1; i = sets + 2*nset
local nrem = tonumber(ARGV[i]); local rems = i + 1; i = rems + nrem
local pop, pending, since, eop, exp = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]

-- Size of the merged record, checked before anything is written.
local attrs = {}
local cur = redis.call('HGETALL', rkey)
for j = 1, #cur, 2 do
  if string.sub(cur[j], 1, 1) ~= '_' then attrs[cur[j]] = cur[j+1] end
end
for j = rems, rems + nrem - 1 do attrs[ARGV[j]] = nil end
for j = sets, sets + 2*nset - 1, 2 do attrs[ARGV[j]] = ARGV[j+1] end
local size = #member
for k, v in pairs(attrs) do size = size + #k + #v end
if size > maxsize then return {2, size} end

if nrem > 0 then
  local del = {}
  for j = rems, rems + nrem - 1 do table.insert(del, ARGV[j]) end
  redis.call('HDEL', rkey, unpack(del))
end
if nset > 0 then
  local kv = {}
  for j = sets, sets + 2*nset - 1 do table.insert(kv, ARGV[j]) end
  hset(rkey, kv)
end
if pop ~= '' then
  unindex(rkey, zprefix, member)
  if pop == '1' then
    redis.call('HSET', rkey, '_p', pending, '_s', since)
    redis.call('ZADD', zprefix .. pending, since, member)
  else
    redis.call('HDEL', rkey, '_p', '_s')
  end
end
if eop == '1' then
  redis.call('HSET', rkey, '_e', exp)
elseif eop == '0' then
  redis.call('HDEL', rkey, '_e')
  redis.call('PERSIST', rkey)
end
redis.call('HINCRBY', rkey, '_v', 1)
-- Read back before PEXPIREAT: an expiry already past deletes the hash at once.
local stored = redis.call('HGETALL', rkey)
if eop == '1' then redis.call('PEXPIREAT', rkey, exp) end
return {1, stored}
`

// deleteSource: KEYS[1] record hash; ARGV: zprefix member cond... Returns {1} or
// {0, current hash}.
const deleteSource = prelude + `
local rkey, zprefix, member = KEYS[1], ARGV[1], ARGV[2]
local ok = cond_holds(rkey, 3)
if not ok then return {0, redis.call('HGETALL', rkey)} end
if redis.call('EXISTS', rkey) == 1 then
  unindex(rkey, zprefix, member)
  redis.call('DEL', rkey)
end
return {1}
`

// listSource: KEYS[1] index zset; ARGV: record prefix, min score (cursor's or -inf),
// cursor member (” = none), max score ('(before' or +inf), limit. Returns
// {more, member, hash, member, hash...}. Members whose hash is gone (the record
// expired natively) or no longer points at this entry are removed on the way.
const listSource = `
local zkey, rprefix, min, after, max, limit = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
-- le compares bytes; Lua's own string order follows the server's locale.
local function le(a, b)
  for k = 1, math.min(#a, #b) do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x < y end
  end
  return #a <= #b
end
-- indexed: the hash exists and sits in this index at this score. A member whose
-- record expired natively (and may since have been re-created elsewhere) is stale.
local function indexed(h, score)
  if #h == 0 then return false end
  local p, s
  for k = 1, #h, 2 do
    if h[k] == '_p' then p = h[k+1] elseif h[k] == '_s' then s = h[k+1] end
  end
  return p == ARGV[6] and s ~= nil and tonumber(s) == tonumber(score)
end
local minnum = tonumber(min)
local out, stale, more, count, offset, batch = {0}, {}, 0, 0, 0, limit + 1
while more == 0 do
  local items = redis.call('ZRANGEBYSCORE', zkey, min, max, 'WITHSCORES', 'LIMIT', offset, batch)
  for j = 1, #items, 2 do
    local m = items[j]
    if not (after ~= '' and tonumber(items[j+1]) == minnum and le(m, after)) then
      local h = redis.call('HGETALL', rprefix .. m)
      if not indexed(h, items[j+1]) then
        table.insert(stale, m)
      elseif count == limit then
        more = 1
        break
      else
        count = count + 1
        table.insert(out, m); table.insert(out, h)
      end
    end
  end
  if #items < 2*batch then break end
  offset = offset + batch
end
for _, m in ipairs(stale) do redis.call('ZREM', zkey, m) end
out[1] = more
return out
`

// scripts are made at their first use, not at package init: redis.NewScript hashes
// each source (SHA-1, the name EVALSHA calls it by), work a cold start does not need.
var scripts = sync.OnceValue(func() scriptSet {
	return scriptSet{put: redis.NewScript(putSource), update: redis.NewScript(updateSource),
		delete: redis.NewScript(deleteSource), list: redis.NewScript(listSource)}
})

type scriptSet struct{ put, update, delete, list *redis.Script }
