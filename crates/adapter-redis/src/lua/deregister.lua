-- Remove a node now.
-- KEYS[1] node key, KEYS[2] nodes sorted set
-- ARGV[1] node id
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
