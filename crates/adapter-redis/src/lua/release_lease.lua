-- Drop a lease, only for its current holder and epoch.
-- KEYS[1] lease
-- ARGV[1] "{epoch}@{node}"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
