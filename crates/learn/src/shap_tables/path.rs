//! Tabulating one leaf: its path summarised per distinct feature, and the 2^D values
//! v·T(A) of the parent module's formula.

use super::{PathSplit, MAX_D};

/// Weights |S|!(D−|S|−1)!/D! for |S| = 0..D−1 (and 0 for |S| = D, never read).
fn weights(d: usize) -> [f64; MAX_D + 1] {
    let mut w = [0.0; MAX_D + 1];
    for (s, slot) in w.iter_mut().enumerate().take(d) {
        // s!(d−s−1)!/d! = 1 / (d · C(d−1, s)).
        let mut c = 1.0;
        for k in 0..s {
            c = c * (d - 1 - k) as f64 / (k + 1) as f64;
        }
        *slot = 1.0 / (d as f64 * c);
    }
    w
}

/// Each child's share of the pair's cover, exactly as [`crate::shap`] takes it.
pub(super) fn shares(a: f64, b: f64) -> (f64, f64) {
    let sum = a + b;
    if sum > 0.0 && sum.is_finite() {
        let r = 1.0 / sum;
        (a * r, b * r)
    } else {
        (0.5, 0.5)
    }
}

/// A leaf's path summarised per distinct feature.
pub(super) struct PathInfo {
    pub feats: [u32; MAX_D],
    /// Product of the cover shares of the path's splits on each feature.
    pub z: [f64; MAX_D],
    pub masks: [u64; MAX_D],
    pub left: u64,
    pub d: usize,
}

impl PathInfo {
    /// Summarises `path`, features in order of first appearance except `last`, which
    /// (when the path splits on it) comes last. `None` when the path has more than
    /// [`MAX_D`] distinct features or a zero cover share (the classic walk's case).
    pub fn new(path: &[PathSplit], last: Option<u32>) -> Option<PathInfo> {
        let mut p = PathInfo {
            feats: [0; MAX_D],
            z: [1.0; MAX_D],
            masks: [0; MAX_D],
            left: 0,
            d: 0,
        };
        let ordered = path
            .iter()
            .filter(|s| Some(s.1) != last)
            .chain(path.iter().filter(|s| Some(s.1) == last));
        for &(b, f, share, left) in ordered {
            let pos = match p.feats[..p.d].iter().position(|&g| g == f) {
                Some(k) => k,
                None => {
                    if p.d == MAX_D {
                        return None;
                    }
                    p.feats[p.d] = f;
                    p.d += 1;
                    p.d - 1
                }
            };
            p.z[pos] *= share;
            p.masks[pos] |= 1 << b;
            if left {
                p.left |= 1 << b;
            }
        }
        // A zero share would need a division by zero below; the classic walk handles it.
        if p.z[..p.d].iter().any(|&s| !(s > 1e-150 && s.is_finite())) {
            return None;
        }
        Some(p)
    }

    /// The 2^d values v·T(A), A over the path's features (bit k: `feats[k]`).
    pub fn values(&self, v: f64) -> Vec<f64> {
        let (d, z) = (self.d, &self.z[..self.d]);
        let w = weights(d);
        let size = 1usize << d;
        // g(S) = w(|S|) · Π_{k ∉ S} z_k, then T(A) = Σ_{S ⊆ A} g(S) (subset sums).
        let mut tab: Vec<f64> = (0..size)
            .map(|s| {
                let mut p = w[(s as u32).count_ones() as usize];
                for (k, &zk) in z.iter().enumerate() {
                    if s & (1 << k) == 0 {
                        p *= zk;
                    }
                }
                p * v
            })
            .collect();
        for k in 0..d {
            for s in 0..size {
                if s & (1 << k) != 0 {
                    tab[s] += tab[s ^ (1 << k)];
                }
            }
        }
        tab
    }

    pub fn hot(&self, k: usize) -> f64 {
        (1.0 - self.z[k]) / self.z[k]
    }

    pub fn expected(&self, v: f64) -> f64 {
        v * self.z[..self.d].iter().product::<f64>()
    }
}
