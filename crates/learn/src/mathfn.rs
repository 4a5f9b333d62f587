//! Logistic loss pieces both logistic learners evaluate for every row of every pass:
//! `exp` of a non-positive number and `ln(1 + e)` on `[0, 1]`, branch-free and without a
//! libm call, so the compiler can keep a pass's loop in registers (and vectorise it).
//! Both stay within a few ulps of libm, so results match it to the last digits that
//! matter; the tests measure that over the whole range.

/// Log loss of one row with margin `z`: softplus(z) − y·z, stable for any `z`;
/// `e` = exp(−|z|).
#[inline(always)]
pub(crate) fn row_loss(z: f64, y: f64, e: f64) -> f64 {
    z.max(0.0) + ln_1p_unit(e) - y * z
}

/// ln(1 + e) for 0 ≤ e ≤ 1 within a few ulps, without a libm call or a branch (the loss
/// of every row is taken every round). With y = 1 + e, or (1 + e) / 2 above √2,
/// ln y = 2·atanh(s) for s = (y − 1)/(y + 1), |s| ≤ 0.1716, summed to s¹⁹ (the next
/// term is below 1e-16 of the result).
#[inline(always)]
pub(crate) fn ln_1p_unit(e: f64) -> f64 {
    let big = e > std::f64::consts::SQRT_2 - 1.0;
    let num = if big { e - 1.0 } else { e };
    let den = if big { e + 3.0 } else { 2.0 + e };
    let shift = if big { std::f64::consts::LN_2 } else { 0.0 };
    let s = num / den;
    let x = s * s;
    // Σ x^k / (2k + 1) for k = 1..9, by Estrin's scheme (short dependency chains).
    let (x2, x4) = (x * x, x * x * (x * x));
    let q0 = 1.0 / 3.0 + x * (1.0 / 5.0);
    let q1 = 1.0 / 7.0 + x * (1.0 / 9.0);
    let q2 = 1.0 / 11.0 + x * (1.0 / 13.0);
    let q3 = 1.0 / 15.0 + x * (1.0 / 17.0);
    let p = (q0 + x2 * q1) + x4 * ((q2 + x2 * q3) + x4 * (1.0 / 19.0));
    shift + 2.0 * s * (1.0 + x * p)
}

/// exp(x) for x ≤ 0 within a few ulps, without a libm call or a branch. Below −708
/// (where exp is under 1e-307) it returns exp(−708). x = k·ln 2 + r with |r| ≤ ln 2 / 2
/// (Cody–Waite), exp(r) by its Taylor series to r¹³ (next term below 1e-17), and 2^k
/// built in the exponent bits: k is read from the low mantissa bits of
/// x·log₂e + 1.5·2⁵², the sum that also rounds it.
#[inline(always)]
pub(crate) fn exp_nonpos(x: f64) -> f64 {
    const SHIFT: f64 = 6_755_399_441_055_744.0;
    // fdlibm's split of ln 2: the high part has 32 trailing zero bits, so k·LN2_HI is
    // exact.
    const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
    let x = x.max(-708.0);
    let t = x * std::f64::consts::LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let (r2, r4) = (r * r, r * r * (r * r));
    let a0 = 1.0 + r;
    let a1 = 1.0 / 2.0 + r * (1.0 / 6.0);
    let a2 = 1.0 / 24.0 + r * (1.0 / 120.0);
    let a3 = 1.0 / 720.0 + r * (1.0 / 5_040.0);
    let a4 = 1.0 / 40_320.0 + r * (1.0 / 362_880.0);
    let a5 = 1.0 / 3_628_800.0 + r * (1.0 / 39_916_800.0);
    let a6 = 1.0 / 479_001_600.0 + r * (1.0 / 6_227_020_800.0);
    let b0 = a0 + r2 * a1;
    let b1 = a2 + r2 * a3;
    let b2 = a4 + r2 * a5;
    let p = (b0 + r4 * b1) + (r4 * r4) * (b2 + r4 * a6);
    // k + 1023 is in 1..=1023, so it lands in the exponent field and nothing else does.
    let scale = f64::from_bits(t.to_bits().wrapping_add(1023) << 52);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_1p_unit_matches_libm() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let e = f64::from(i) / 200_000.0;
            for e in [e, e * 1e-9, e * 1e-300] {
                let want = e.ln_1p();
                let got = ln_1p_unit(e);
                let rel = if want == 0.0 {
                    got.abs()
                } else {
                    ((got - want) / want).abs()
                };
                worst = worst.max(rel);
            }
        }
        assert!(worst < 1e-15, "relative error {worst}");
        assert_eq!(ln_1p_unit(0.0), 0.0);
    }

    #[test]
    fn exp_nonpos_matches_libm() {
        let mut worst = 0.0f64;
        for i in 0..=1_000_000 {
            let x = -708.0 * f64::from(i) / 1_000_000.0;
            for x in [x, x * 1e-3, x * 1e-9] {
                let want = x.exp();
                let rel = ((exp_nonpos(x) - want) / want).abs();
                worst = worst.max(rel);
            }
        }
        assert!(worst < 1e-15, "relative error {worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(-0.0), 1.0);
        assert!(exp_nonpos(-1e6) > 0.0 && exp_nonpos(-1e6) < 1e-307);
        assert!(exp_nonpos(f64::NEG_INFINITY) < 1e-307);
    }
}
