//! Logistic regression (filled in by the linear-model work).
