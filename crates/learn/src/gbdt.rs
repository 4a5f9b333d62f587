//! Gradient-boosted trees (filled in by the boosting work).
