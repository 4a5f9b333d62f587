//! Forecasts of a fitted ETS model: points, and intervals that are analytic for the
//! linear class and simulated otherwise.

use super::filter::Spec;
use super::form::{ErrorType, SeasonType, TrendType};
use super::Ets;
use crate::model::Forecast;
use crate::stats::quantile_sorted;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

impl Ets {
    fn spec(&self) -> Spec {
        Spec {
            form: self.form,
            m: self.period,
            alpha: self.alpha,
            beta: self.beta,
            gamma: self.gamma,
            phi: self.phi,
        }
    }

    /// Point forecasts 1 … h.
    pub fn point(&self, h: usize) -> Vec<f64> {
        let mut phistar = self.phi;
        let mut out = Vec::with_capacity(h);
        for i in 0..h {
            let base = match self.form.trend {
                TrendType::None => self.level,
                _ => self.level + phistar * self.trend,
            };
            let s = if self.seasons.is_empty() {
                0.0
            } else {
                self.seasons[i % self.seasons.len()]
            };
            out.push(match self.form.season {
                SeasonType::None => base,
                SeasonType::Additive => base + s,
                SeasonType::Multiplicative => base * s,
            });
            phistar += self.phi.powi(i as i32 + 2);
        }
        out
    }

    /// Forecasts with 80 % and 95 % intervals: analytic for the linear forms, from
    /// simulated paths otherwise.
    pub fn forecast(&self, h: usize) -> Forecast {
        let mean = self.point(h);
        if self.form.is_linear() {
            let mut acc = 0.0;
            let mut sd = Vec::with_capacity(h);
            let mut phisum = 0.0;
            for j in 1..=h {
                sd.push((self.sigma2.max(0.0) * (1.0 + acc)).sqrt());
                // c_j for the next step's variance.
                phisum += self.phi.powi(j as i32);
                let mut c = self.alpha;
                if self.form.trend != TrendType::None {
                    c += self.beta * phisum;
                }
                if self.form.season != SeasonType::None && j % self.period == 0 {
                    c += self.gamma;
                }
                acc += c * c;
            }
            return Forecast::normal(mean, &sd);
        }
        self.simulated(mean)
    }

    fn simulated(&self, mean: Vec<f64>) -> Forecast {
        let h = mean.len();
        let spec = self.spec();
        let sigma = self.sigma2.max(0.0).sqrt();
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let paths = self.simulations;
        let mut draws = vec![Vec::with_capacity(paths); h];
        let m = self.seasons.len().max(1);
        let mut ring = vec![0.0; m];
        for _ in 0..paths {
            let (mut l, mut b) = (self.level, self.trend);
            ring[..self.seasons.len()].copy_from_slice(&self.seasons);
            for (i, d) in draws.iter_mut().enumerate() {
                let k = i % m;
                let s = if self.seasons.is_empty() {
                    0.0
                } else {
                    ring[k]
                };
                let (q, f) = spec.one_step(l, b, s);
                let z: f64 = StandardNormal.sample(&mut rng);
                let y = match self.form.error {
                    ErrorType::Additive => f + sigma * z,
                    ErrorType::Multiplicative => f * (1.0 + sigma * z),
                };
                d.push(y);
                let (ln, bn, sn) = spec.update(l, b, s, q, y);
                l = ln;
                b = bn;
                if !self.seasons.is_empty() {
                    ring[k] = sn;
                }
            }
        }
        let mut f = Forecast::empty(mean);
        for (i, mut d) in draws.into_iter().enumerate() {
            d.retain(|v| v.is_finite());
            d.sort_by(f64::total_cmp);
            f.lo80[i] = quantile_sorted(&d, 0.10);
            f.hi80[i] = quantile_sorted(&d, 0.90);
            f.lo95[i] = quantile_sorted(&d, 0.025);
            f.hi95[i] = quantile_sorted(&d, 0.975);
        }
        f
    }

    /// Standard deviation of the one-step errors.
    pub fn sigma(&self) -> f64 {
        self.sigma2.max(0.0).sqrt()
    }
}
