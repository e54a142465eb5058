//! Maps and sets whose iteration order depends only on what was put in them.
//!
//! std's `HashMap` seeds every map at random, so the same inputs visit a
//! room's sessions in a different order on every run; the cluster simulator
//! replays a seed exactly only if no choice of the engine depends on that.
//! The keys here (session, room and node ids) are chosen by the server,
//! never by a client, so a fixed hash seed gives nobody anything to collide on.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, DefaultHasher};

/// A `HashMap` with a fixed hash seed.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

/// A `HashSet` with a fixed hash seed.
pub(crate) type IdSet<K> = HashSet<K, BuildHasherDefault<DefaultHasher>>;
