-- The sessions of a room whose node is live, as a flat user/value list;
-- records of dead nodes are deleted on the way.
-- KEYS[1] sessions hash of the room
-- ARGV[1] node key prefix
local all = redis.call('HGETALL', KEYS[1])
local live = {}
local alive = {}
for i = 1, #all, 2 do
  local value = all[i + 1]
  local at = string.find(value, '@', 1, true)
  local keep = false
  if at then
    local node = string.sub(value, at + 1)
    if alive[node] == nil then
      alive[node] = redis.call('EXISTS', ARGV[1] .. node) == 1
    end
    keep = alive[node]
  end
  if keep then
    live[#live + 1] = all[i]
    live[#live + 1] = value
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return live
