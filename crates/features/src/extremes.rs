//! Sliding-window minimum and maximum by monotonic deques: amortised O(1) per event.
//!
//! A window's entries enter at the right and leave at the left, in index order, so its
//! maximum is kept as a deque of entry indices whose values strictly decrease from front
//! to back: an entering entry first removes every entry at the back that is not larger
//! (they can never be the maximum again while it is in the window), a leaving entry is
//! removed from the front if it is there, and the front is the maximum. Each entry is
//! pushed and popped at most once, where rescanning the window cost O(window) per read.
//!
//! ```text
//!  entries (index: value)   0:5  1:3  2:4  3:1  4:2       window [1, 5)
//!  max deque                2:4  4:2                      front = max = 4
//!  entry 5:3 enters         2:4  5:3                      (4:2 popped: ≤ 3)
//!  entry 1 leaves           unchanged (1 is not at the front)
//! ```
//!
//! The value is an entry's own value, read back by index, so the result is bit for bit
//! the one a scan would pick (equal values are equal numbers). Indices are absolute
//! (`Entity::base` + position): they stay valid while older entries are trimmed.

use std::collections::VecDeque;

/// Pushes entry `abs` (value `v`) at the back; `val(i)` reads entry `i`'s value.
#[inline]
pub(crate) fn push(dq: &mut VecDeque<u64>, max: bool, abs: u64, v: f64, val: impl Fn(u64) -> f64) {
    while let Some(&b) = dq.back() {
        let bv = val(b);
        let dominated = if max { bv <= v } else { bv >= v };
        if !dominated {
            break;
        }
        dq.pop_back();
    }
    dq.push_back(abs);
}

/// Entry `abs` leaves the window (entries leave oldest first).
#[inline]
pub(crate) fn leave(dq: &mut VecDeque<u64>, abs: u64) {
    if dq.front() == Some(&abs) {
        dq.pop_front();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Random windows sliding over random values (with many ties): the deque's front
        /// is always what a scan of the window finds, bit for bit.
        #[test]
        fn deque_front_equals_a_scan(
            vals in proptest::collection::vec(-5i32..5, 1..200),
            moves in proptest::collection::vec((0usize..4, 0usize..4), 1..200),
        ) {
            let vals: Vec<f64> = vals.into_iter().map(|v| f64::from(v) / 2.0).collect();
            let (mut lo, mut hi) = (0usize, 0usize);
            let (mut dmax, mut dmin) = (VecDeque::new(), VecDeque::new());
            for (enter, exit) in moves {
                for _ in 0..enter {
                    if hi < vals.len() {
                        push(&mut dmax, true, hi as u64, vals[hi], |i| vals[i as usize]);
                        push(&mut dmin, false, hi as u64, vals[hi], |i| vals[i as usize]);
                        hi += 1;
                    }
                }
                for _ in 0..exit {
                    if lo < hi {
                        leave(&mut dmax, lo as u64);
                        leave(&mut dmin, lo as u64);
                        lo += 1;
                    }
                }
                if lo < hi {
                    let w = &vals[lo..hi];
                    let smax = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let smin = w.iter().copied().fold(f64::INFINITY, f64::min);
                    prop_assert_eq!(vals[*dmax.front().unwrap() as usize].to_bits(), smax.to_bits());
                    prop_assert_eq!(vals[*dmin.front().unwrap() as usize].to_bits(), smin.to_bits());
                } else {
                    prop_assert!(dmax.is_empty() && dmin.is_empty());
                }
            }
        }
    }
}
