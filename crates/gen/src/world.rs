//! The static part of the simulated bank: customers, cards, devices, merchants and
//! terminals, genuine trips and terminal compromises. Built once, before the first day;
//! everything here is a pure function of the seed and the configuration.

use crate::calendar;
use crate::params::*;
use crate::rng::{self, tag, Rng};
use crate::GenConfig;
use riskstream_core::time::MICROS_PER_DAY;

/// Terminal kinds (also transaction channels).
pub(crate) const POS: u8 = 0;
pub(crate) const CONTACTLESS: u8 = 1;
pub(crate) const ECOM: u8 = 2;
pub(crate) const ATM: u8 = 3;

/// One customer's profile.
#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub segment: u8,
    pub age: u8,
    pub home: u8,
    pub n_cards: u8,
    pub n_devices: u8,
    pub income: f32,
    pub lat: f64,
    pub lon: f64,
    /// Daily transaction rate before the activity scale.
    pub rate: f64,
    /// Spending multiplier on every MCC's median.
    pub amount_scale: f64,
    /// Log-sd of amounts.
    pub amount_sigma: f64,
    /// Cumulative channel shares (pos, contactless, ecom, atm).
    pub mix_cum: [f32; 4],
    /// Channel shares as drawn, rounded to 4 decimals (for the customers file).
    pub mix: [f64; 4],
    pub first_card: u32,
    /// Days since the epoch when the customer joined.
    pub joined_day: i64,
}

impl Customer {
    pub fn country(&self) -> usize {
        CITIES[self.home as usize].country
    }

    /// The customer's typical amount in their home currency.
    pub fn typical_amount(&self) -> f64 {
        self.amount_scale * TYPICAL_AMOUNT_EUR * COUNTRIES[self.country()].fx_per_eur
    }
}

/// One terminal.
#[derive(Debug, Clone)]
pub(crate) struct Terminal {
    pub merchant: u32,
    pub mcc: u8,
    pub kind: u8,
    pub city: u8,
    pub lat: f64,
    pub lon: f64,
}

impl Terminal {
    pub fn country(&self) -> usize {
        CITIES[self.city as usize].country
    }
}

/// A terminal compromise on days `start..end` (day indices relative to the period start).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CompromiseWindow {
    /// The terminal.
    pub terminal_id: u32,
    /// First compromised day (0 = the first simulated day; negative: before the period).
    pub start_day: i64,
    /// First day after the compromise.
    pub end_day: i64,
}

/// Everything that does not change from day to day.
#[derive(Debug)]
pub(crate) struct World {
    pub seed: u64,
    /// First simulated day, as days since the epoch.
    pub start_day: i64,
    pub days: u32,
    pub customers: Vec<Customer>,
    pub n_cards: u64,
    pub terminals: Vec<Terminal>,
    /// Per city, per kind: terminal ids.
    pub city_kind: Vec<[Vec<u32>; 4]>,
    /// E-commerce terminals per country.
    pub ecom_by_country: Vec<Vec<u32>>,
    pub ecom_all: Vec<u32>,
    /// Per city: the cities at least [`IMPOSSIBLE_TRAVEL_MIN_KM`] away in another country.
    pub far_cities: Vec<Vec<u8>>,
    /// Trip start/end events: (day, 0 = end / 1 = start, customer, city), sorted.
    pub trip_events: Vec<(i64, u8, u32, u8)>,
    pub trips: u64,
    pub windows: Vec<CompromiseWindow>,
    /// Activity scale applied to daily rates and fraud episode rates.
    pub scale: f64,
    /// Rate multiplier per simulated day (weekday × holiday).
    pub day_factor: Vec<f64>,
}

/// Great-circle distance in km.
pub(crate) fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371.0 * a.sqrt().asin()
}

fn jitter(r: &mut Rng, city: usize, sd: f64) -> (f64, f64) {
    let c = &CITIES[city];
    let lat = (c.lat + sd * rng::normal(r)).clamp(-89.9, 89.9);
    let lon =
        (c.lon + sd * rng::normal(r) / c.lat.to_radians().cos().max(0.2)).clamp(-179.9, 179.9);
    (round_to(lat, 5), round_to(lon, 5))
}

pub(crate) fn round_to(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

/// Number of failures before the first success of Bernoulli(p) trials.
fn geometric(r: &mut Rng, p: f64) -> i64 {
    let u = 1.0 - rng::unif(r); // (0, 1]
    (u.ln() / (1.0 - p).ln()).floor().min(1e12) as i64
}

fn home_city_cum() -> Vec<f64> {
    rng::cumulative(
        &CITIES[..HOME_CITIES]
            .iter()
            .map(|c| c.home_weight)
            .collect::<Vec<_>>(),
    )
}

/// Home countries: those with at least one home city.
pub(crate) fn home_countries() -> Vec<usize> {
    let mut v: Vec<usize> = CITIES[..HOME_CITIES].iter().map(|c| c.country).collect();
    v.dedup();
    v
}

/// The first city of a country (where its e-commerce merchants are registered).
fn capital(country: usize) -> usize {
    CITIES
        .iter()
        .position(|c| c.country == country)
        .unwrap_or(0)
}

fn build_terminals(seed: u64, n: u32) -> Vec<Terminal> {
    let home_cum = home_city_cum();
    let homes = home_countries();
    let ecom_w: Vec<f64> = homes
        .iter()
        .map(|&k| {
            CITIES[..HOME_CITIES]
                .iter()
                .filter(|c| c.country == k)
                .map(|c| c.home_weight)
                .sum()
        })
        .collect();
    let ecom_cum = rng::cumulative(&ecom_w);
    let kind_cum = rng::cumulative(&MERCHANT_KIND_SHARE);
    let mcc_cum: Vec<Vec<f64>> = (0..4)
        .map(|k| rng::cumulative(&MCCS.iter().map(|m| m.weights[k]).collect::<Vec<_>>()))
        .collect();

    // Every city gets each physical kind once, every home country an e-commerce merchant.
    let mut required: Vec<(u8, usize)> = Vec::new();
    for city in 0..CITIES.len() {
        let kinds: &[u8] = if city < HOME_CITIES {
            &[POS, CONTACTLESS, ATM]
        } else {
            &[POS, ATM]
        };
        required.extend(kinds.iter().map(|&k| (k, city)));
    }
    required.extend(homes.iter().map(|&k| (ECOM, capital(k))));

    let mut out: Vec<Terminal> = Vec::with_capacity(n as usize);
    let mut m = 0u32;
    while (out.len() as u32) < n {
        let mut r = rng::stream(seed, tag::TERMINAL, u64::from(m), 0);
        let (kind, city, count) = match required.get(m as usize) {
            Some(&(k, c)) => (k, c, 1),
            None => {
                let k = rng::pick_cum(&mut r, &kind_cum) as u8;
                let city = if k == ECOM {
                    if rng::chance(&mut r, FOREIGN_ECOM_SHARE) {
                        capital(if rng::chance(&mut r, 2.0 / 3.0) { 6 } else { 7 })
                    } else {
                        capital(homes[rng::pick_cum(&mut r, &ecom_cum)])
                    }
                } else if rng::chance(&mut r, FOREIGN_MERCHANT_SHARE) {
                    HOME_CITIES + rng::below(&mut r, (CITIES.len() - HOME_CITIES) as u32) as usize
                } else {
                    rng::pick_cum(&mut r, &home_cum)
                };
                let extra = rng::poisson(&mut r, EXTRA_TERMINALS_MEAN[k as usize]).min(20);
                (k, city, 1 + extra)
            }
        };
        let mcc = rng::pick_cum(&mut r, &mcc_cum[kind as usize]) as u8;
        let (mlat, mlon) = jitter(
            &mut r,
            city,
            if kind == ECOM {
                0.01
            } else {
                LOCATION_JITTER_DEG
            },
        );
        for _ in 0..count {
            if out.len() as u32 >= n {
                break;
            }
            let lat = round_to(mlat + 0.002 * rng::normal(&mut r), 5).clamp(-89.9, 89.9);
            let lon = round_to(mlon + 0.002 * rng::normal(&mut r), 5).clamp(-179.9, 179.9);
            out.push(Terminal {
                merchant: m,
                mcc,
                kind,
                city: city as u8,
                lat,
                lon,
            });
        }
        m += 1;
    }
    out
}

fn build_customers(seed: u64, n: u32, start_day: i64) -> (Vec<Customer>, u64) {
    let seg_cum = rng::cumulative(&SEGMENTS.iter().map(|s| s.share).collect::<Vec<_>>());
    let home_cum = home_city_cum();
    let mut next_card = 0u64;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut r = rng::stream(seed, tag::CUSTOMER, u64::from(i), 0);
        let s = rng::pick_cum(&mut r, &seg_cum);
        let seg = &SEGMENTS[s];
        let age = rng::int_in(&mut r, seg.age.0, seg.age.1);
        let income = seg.income_median_eur * (0.35 * rng::normal(&mut r)).exp();
        let rate = rng::gamma(&mut r, 2.0, seg.daily_rate / 2.0);
        let amount_scale = seg.amount_scale * (0.3 * rng::normal(&mut r)).exp();
        let amount_sigma = rng::uniform(&mut r, AMOUNT_SIGMA.0, AMOUNT_SIGMA.1);
        let mut mix = [0f64; 4];
        for (k, m) in mix.iter_mut().enumerate() {
            *m = seg.channels[k] * rng::uniform(&mut r, 0.6, 1.4);
        }
        let total: f64 = mix.iter().sum();
        let mut acc = 0f64;
        let mut mix_cum = [0f32; 4];
        let mut shares = [0f64; 4];
        for k in 0..4 {
            acc += mix[k] / total;
            mix_cum[k] = acc as f32;
            shares[k] = round_to(mix[k] / total, 4);
        }
        mix_cum[3] = 1.0;
        let n_cards = 1 + u8::from(rng::chance(&mut r, seg.second_card_p));
        let n_devices = 1 + u8::from(rng::chance(&mut r, SECOND_DEVICE_P));
        let home = rng::pick_cum(&mut r, &home_cum);
        let (lat, lon) = jitter(&mut r, home, LOCATION_JITTER_DEG);
        let max_tenure = f64::from(age.saturating_sub(18));
        let tenure_years = (-TENURE_MEAN_YEARS * (1.0 - rng::unif(&mut r)).ln()).min(max_tenure);
        let joined_day = start_day - 1 - (tenure_years * 365.25) as i64;
        out.push(Customer {
            segment: s as u8,
            age: age as u8,
            home: home as u8,
            n_cards,
            n_devices,
            income: income.round() as f32,
            lat,
            lon,
            rate,
            amount_scale,
            amount_sigma,
            mix_cum,
            mix: shares,
            first_card: next_card as u32,
            joined_day,
        });
        next_card += u64::from(n_cards);
    }
    (out, next_card)
}

fn build_trips(seed: u64, customers: &[Customer], days: i64) -> (Vec<(i64, u8, u32, u8)>, u64) {
    let mut events = Vec::new();
    let mut trips = 0u64;
    let warmup = i64::from(TRIP_DAYS.1);
    for (i, c) in customers.iter().enumerate() {
        let mut r = rng::stream(seed, tag::TRIPS, i as u64, 0);
        let mut day = -warmup;
        loop {
            let start = day + geometric(&mut r, TRIP_START_PER_DAY);
            if start >= days {
                break;
            }
            let len = i64::from(rng::int_in(&mut r, TRIP_DAYS.0, TRIP_DAYS.1));
            let city = if rng::chance(&mut r, TRIP_FAR_SHARE) {
                HOME_CITIES + rng::below(&mut r, (CITIES.len() - HOME_CITIES) as u32) as usize
            } else {
                // Another home city, by weight.
                let w: Vec<f64> = (0..HOME_CITIES)
                    .map(|k| {
                        if k == c.home as usize {
                            0.0
                        } else {
                            CITIES[k].home_weight
                        }
                    })
                    .collect();
                rng::pick_cum(&mut r, &rng::cumulative(&w))
            };
            if start + len > 0 {
                events.push((start, 1u8, i as u32, city as u8));
                events.push((start + len, 0u8, i as u32, c.home));
                if start >= 0 {
                    trips += 1;
                }
            }
            day = start + len;
        }
    }
    events.sort_unstable();
    (events, trips)
}

fn build_windows(seed: u64, terminals: &[Terminal], days: i64) -> Vec<CompromiseWindow> {
    let mut out = Vec::new();
    for (t, term) in terminals.iter().enumerate() {
        if term.kind == ECOM {
            continue;
        }
        let mut r = rng::stream(seed, tag::COMPROMISE, t as u64, 0);
        let mut day = -i64::from(COMPROMISE_WARMUP_DAYS);
        loop {
            let start = day + geometric(&mut r, COMPROMISE_START_PER_TERMINAL_DAY);
            if start >= days {
                break;
            }
            let len = i64::from(rng::int_in(&mut r, COMPROMISE_DAYS.0, COMPROMISE_DAYS.1));
            if start + len > 0 {
                out.push(CompromiseWindow {
                    terminal_id: t as u32,
                    start_day: start,
                    end_day: start + len,
                });
            }
            day = start + len;
        }
    }
    out.sort_by_key(|w| (w.start_day, w.terminal_id));
    out
}

/// Expected transactions per unit of activity scale: genuine plus the transactions that
/// fraud episodes add (compromised-terminal fraud replaces genuine transactions).
fn expected_transactions(customers: &[Customer], n_cards: u64, day_factor: &[f64]) -> f64 {
    let rate_sum: f64 = customers.iter().map(|c| c.rate).sum();
    let factor_sum: f64 = day_factor.iter().sum();
    let mean = |r: (u32, u32)| f64::from(r.0 + r.1) / 2.0;
    let per_card_day = CNP_BURST_PER_CARD_DAY * mean(CNP_BURST_TX)
        + CARD_TESTING_PER_CARD_DAY * (mean(CARD_TESTING_TESTS) + CARD_TESTING_CASHOUT_P)
        + IMPOSSIBLE_TRAVEL_PER_CARD_DAY * (2.0 + IMPOSSIBLE_TRAVEL_SECOND_P);
    let per_customer_day = ACCOUNT_TAKEOVER_PER_CUSTOMER_DAY * mean(ACCOUNT_TAKEOVER_TX);
    let days = day_factor.len() as f64;
    rate_sum * factor_sum
        + days * (n_cards as f64 * per_card_day + customers.len() as f64 * per_customer_day)
}

impl World {
    pub fn build(cfg: &GenConfig) -> World {
        let seed = cfg.seed;
        let start_day = cfg.start.div_euclid(MICROS_PER_DAY);
        let days = i64::from(cfg.days);
        let terminals = build_terminals(seed, cfg.terminals);
        let (customers, n_cards) = build_customers(seed, cfg.customers, start_day);
        let mut city_kind: Vec<[Vec<u32>; 4]> =
            (0..CITIES.len()).map(|_| Default::default()).collect();
        let mut ecom_by_country: Vec<Vec<u32>> = vec![Vec::new(); COUNTRIES.len()];
        let mut ecom_all = Vec::new();
        for (t, term) in terminals.iter().enumerate() {
            city_kind[term.city as usize][term.kind as usize].push(t as u32);
            if term.kind == ECOM {
                ecom_by_country[term.country()].push(t as u32);
                ecom_all.push(t as u32);
            }
        }
        let far_cities = CITIES
            .iter()
            .map(|a| {
                CITIES
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| {
                        b.country != a.country
                            && haversine_km(a.lat, a.lon, b.lat, b.lon) >= IMPOSSIBLE_TRAVEL_MIN_KM
                    })
                    .map(|(k, _)| k as u8)
                    .collect()
            })
            .collect();
        let (trip_events, trips) = build_trips(seed, &customers, days);
        let windows = build_windows(seed, &terminals, days);
        let day_factor: Vec<f64> = (0..days)
            .map(|d| {
                let day = start_day + d;
                let h = if calendar::is_holiday(day) {
                    HOLIDAY_FACTOR
                } else {
                    1.0
                };
                WEEKDAY_FACTOR[calendar::weekday(day)] * h
            })
            .collect();
        let scale = match cfg.transactions {
            Some(t) => {
                let e = expected_transactions(&customers, n_cards, &day_factor);
                if e > 0.0 {
                    t as f64 / e
                } else {
                    1.0
                }
            }
            None => 1.0,
        };
        World {
            seed,
            start_day,
            days: cfg.days,
            customers,
            n_cards,
            terminals,
            city_kind,
            ecom_by_country,
            ecom_all,
            far_cities,
            trip_events,
            trips,
            windows,
            scale,
            day_factor,
        }
    }

    /// Number of merchants.
    pub fn merchants(&self) -> u64 {
        self.terminals
            .last()
            .map_or(0, |t| u64::from(t.merchant) + 1)
    }

    /// The customer's `k`-th usual terminal of a physical kind in their home city.
    #[inline]
    pub fn usual_physical(&self, c: u32, kind: u8, k: u32) -> Option<u32> {
        let home = self.customers[c as usize].home as usize;
        let list = &self.city_kind[home][kind as usize];
        if list.is_empty() {
            return None;
        }
        let h = rng::hash4(
            self.seed,
            tag::USUAL,
            u64::from(c),
            u64::from(kind) << 8 | u64::from(k),
        );
        Some(list[(h % list.len() as u64) as usize])
    }

    /// The customer's `k`-th usual e-commerce merchant (domestic with [`ECOM_DOMESTIC_P`]).
    #[inline]
    pub fn usual_ecom(&self, c: u32, k: u32) -> u32 {
        let h = rng::hash4(self.seed, tag::USUAL, u64::from(c), 0x1000 | u64::from(k));
        let domestic = ((h >> 40) as f64) / ((1u64 << 24) as f64) < ECOM_DOMESTIC_P;
        let list = &self.ecom_by_country[self.customers[c as usize].country()];
        let list = if domestic && !list.is_empty() {
            list
        } else {
            &self.ecom_all
        };
        list[(h % list.len() as u64) as usize]
    }
}
