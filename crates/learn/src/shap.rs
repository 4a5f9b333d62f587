//! Exact TreeSHAP (filled in by the explanation work).
