//! adapter-ws
