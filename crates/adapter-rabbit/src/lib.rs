//! adapter-rabbit
