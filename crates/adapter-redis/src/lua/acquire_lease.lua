-- Take a room's lease if free, or again by its holder: every grant gets a new
-- epoch, so a restarted node (same id) or a lost-and-retaken lease never
-- numbers events under an epoch relays have already seen.
-- Epochs never go back, even if Redis lost its data: a new epoch is at least
-- the server's clock in milliseconds.
-- KEYS[1] lease, KEYS[2] epoch counter
-- ARGV[1] node id, ARGV[2] ttl in ms
-- Returns {1, "{epoch}@{node}"} when granted, {0, "{epoch}@{holder}"} when held.
local current = redis.call('GET', KEYS[1])
if current then
  local at = string.find(current, '@', 1, true)
  if not (at and string.sub(current, at + 1) == ARGV[1]) then
    return {0, current}
  end
end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local epoch = string.format('%d', math.max(last + 1, now_ms))
redis.call('SET', KEYS[2], epoch)
local value = epoch .. '@' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {1, value}
