//! adapter-mysql
