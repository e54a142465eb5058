//! adapter-redis
