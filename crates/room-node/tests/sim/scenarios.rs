//! One scenario per way the cluster used to lose a user, a command or memory.
