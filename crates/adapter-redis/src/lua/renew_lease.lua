-- Extend a lease, only for its current holder and epoch.
-- KEYS[1] lease
-- ARGV[1] "{epoch}@{node}", ARGV[2] ttl in ms
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
