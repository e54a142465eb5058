-- Store a room snapshot, only while the writer's lease is the current one.
-- KEYS[1] lease, KEYS[2] snapshot
-- ARGV[1] "{epoch}@{node}", ARGV[2] snapshot JSON, ARGV[3] ttl in ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
