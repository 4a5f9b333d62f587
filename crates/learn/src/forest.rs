//! Random forests.
