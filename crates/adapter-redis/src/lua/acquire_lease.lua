-- Take a room's lease if free: a new holder gets the next epoch.
-- The current holder asking again keeps its epoch and gets a fresh expiry.
-- KEYS[1] lease, KEYS[2] epoch counter
-- ARGV[1] node id, ARGV[2] ttl in ms
-- Returns {1, "{epoch}@{node}"} when granted, {0, "{epoch}@{holder}"} when held.
local current = redis.call('GET', KEYS[1])
if current then
  local at = string.find(current, '@', 1, true)
  if at and string.sub(current, at + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, current}
  end
  return {0, current}
end
redis.call('INCR', KEYS[2])
local value = redis.call('GET', KEYS[2]) .. '@' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {1, value}
