//! CART decision trees.
