-- Record a session for a user in a room; return the one it replaced if live.
-- KEYS[1] sessions hash of the room
-- ARGV[1] user id, ARGV[2] "{session}@{node}", ARGV[3] node key prefix
local previous = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if not previous or previous == ARGV[2] then
  return false
end
local at = string.find(previous, '@', 1, true)
if not at then
  return false
end
if redis.call('EXISTS', ARGV[3] .. string.sub(previous, at + 1)) == 0 then
  return false
end
return previous
