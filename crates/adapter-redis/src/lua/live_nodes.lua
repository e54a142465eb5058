-- The NodeInfo JSON of every live node, fewest connections first (ties by id);
-- ids whose node key expired are dropped from the set on the way.
-- KEYS[1] nodes sorted set
-- ARGV[1] node key prefix
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local live = {}
for _, id in ipairs(ids) do
  local info = redis.call('GET', ARGV[1] .. id)
  if info then
    live[#live + 1] = info
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return live
