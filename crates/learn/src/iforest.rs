//! Isolation forest (filled in by the anomaly work).
