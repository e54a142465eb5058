//! myroom facade
