-- Forget a user's session in a room if it is still the recorded one.
-- KEYS[1] sessions hash of the room
-- ARGV[1] user id, ARGV[2] "{session}@{node}"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
