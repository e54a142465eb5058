-- Register or refresh a node and its load.
-- KEYS[1] node key, KEYS[2] nodes sorted set
-- ARGV[1] NodeInfo JSON, ARGV[2] ttl in ms, ARGV[3] connections, ARGV[4] node id
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
