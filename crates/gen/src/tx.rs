//! Transactions, one day at a time.
//!
//! Each (day, customer) pair has its own random stream, so a day's transactions do not
//! depend on how the work is split. A day's raw transactions are sorted by event time; the
//! tail of fraud episodes that runs past midnight is carried into the next day, so the
//! output is in event-time order across days. Transaction ids are assigned after sorting,
//! so they increase with event time. Label events are queued by arrival time and released
//! once the simulation clock has passed them.

use crate::calendar;
use crate::params::*;
use crate::rng::{self, tag, Rng};
use crate::world::{round_to, World, ATM, CONTACTLESS, ECOM, POS};
use riskstream_core::time::{MICROS_PER_DAY, MICROS_PER_SEC};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Pattern codes (indices into [`PATTERNS`]).
pub(crate) const GENUINE: u8 = 0;
pub(crate) const CNP_BURST: u8 = 1;
pub(crate) const CARD_TESTING: u8 = 2;
pub(crate) const COMPROMISED: u8 = 3;
pub(crate) const TAKEOVER: u8 = 4;
pub(crate) const TRAVEL: u8 = 5;

/// Label sources, in dictionary order (index + 1 is stored in [`RawTx::label_source`]).
pub(crate) const LABEL_SOURCES: [&str; 3] = ["customer_report", "chargeback", "analyst_review"];
const ANALYST_REVIEW: u8 = 3;

/// One transaction before it has an id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawTx {
    /// Event time, microseconds since the epoch (whole seconds).
    pub time: i64,
    /// Tie-breaker for equal times: (customer, generation day, sequence).
    pub key: u64,
    /// When the label arrives (if `label_source != 0`).
    pub label_time: i64,
    /// Device fingerprint (0: none).
    pub device: u64,
    /// Amount in the terminal's currency.
    pub amount: f64,
    pub customer: u32,
    pub card: u32,
    pub terminal: u32,
    /// Index into [`CHANNELS`].
    pub channel: u8,
    /// Index into [`PATTERNS`].
    pub pattern: u8,
    /// 0: no label; k: [`LABEL_SOURCES`]\[k − 1\].
    pub label_source: u8,
    /// The label's value (0/1).
    pub label: u8,
}

/// A label waiting for its arrival time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PendingLabel {
    pub time: i64,
    pub tx_id: u64,
    pub label: u8,
    pub source: u8,
    pub tx_time: i64,
}

/// Counters kept while generating.
#[derive(Debug, Clone, Default)]
pub(crate) struct TxStats {
    /// Fraud episodes started, per pattern code.
    pub episodes: [u64; 6],
    /// Transactions emitted per pattern code.
    pub emitted: [u64; 6],
    /// Transactions that fell after the end of the period and were dropped.
    pub dropped_after_end: u64,
}

/// Precomputed Poisson mean and e^-mean.
#[derive(Debug, Clone, Copy)]
struct Mean {
    mu: f64,
    exp_neg: f64,
}

impl Mean {
    fn new(mu: f64) -> Self {
        Self {
            mu,
            exp_neg: (-mu).exp(),
        }
    }
    #[inline]
    fn draw(self, r: &mut Rng) -> u32 {
        if self.mu < 30.0 {
            rng::poisson_inv(r, self.mu, self.exp_neg)
        } else {
            rng::poisson(r, self.mu)
        }
    }
}

/// The day-to-day state: who is travelling, which terminals are compromised, the carried
/// tail of yesterday, and the label queue.
#[derive(Debug)]
pub(crate) struct DayGen<'w> {
    w: &'w World,
    cur_city: Vec<u8>,
    /// Per customer: (day + 1, from city, to city) of a trip departure or return.
    transit: Vec<(u32, u8, u8)>,
    trip_cursor: usize,
    compromised: Vec<bool>,
    carry: Vec<RawTx>,
    next_tx_id: u64,
    labels: BinaryHeap<Reverse<PendingLabel>>,
    cum_weekday: Vec<f64>,
    cum_weekend: Vec<f64>,
    source_cum: Vec<f64>,
    cnp: Mean,
    testing: Mean,
    takeover: Mean,
    travel: Mean,
    pub stats: TxStats,
}

/// Where a customer is during a day: in `from` until `depart`, travelling until `arrive`,
/// then in `to` (the same city all day when not travelling).
#[derive(Debug, Clone, Copy)]
struct Location {
    from: u8,
    to: u8,
    depart: i64,
    arrive: i64,
}

impl Location {
    /// The city at `time`, or `None` in transit.
    #[inline]
    fn at(&self, time: i64) -> Option<usize> {
        if time < self.depart {
            Some(self.from as usize)
        } else if time >= self.arrive {
            Some(self.to as usize)
        } else {
            None
        }
    }
}

/// What one customer-day needs to know about the day.
struct DayCtx<'a> {
    d: u32,
    day_start: i64,
    cum: &'a [f64],
    factor: f64,
}

#[inline]
fn secs(s: f64) -> i64 {
    s as i64 * MICROS_PER_SEC
}

#[inline]
fn cents(x: f64) -> f64 {
    ((x * 100.0).round() / 100.0).max(0.01)
}

fn atm_amount(local: f64, unit: f64) -> f64 {
    ((local / unit).round().max(1.0)) * unit
}

impl<'w> DayGen<'w> {
    pub fn new(w: &'w World) -> Self {
        let s = w.scale;
        Self {
            w,
            cur_city: w.customers.iter().map(|c| c.home).collect(),
            transit: vec![(0, 0, 0); w.customers.len()],
            trip_cursor: 0,
            compromised: vec![false; w.terminals.len()],
            carry: Vec::new(),
            next_tx_id: 0,
            labels: BinaryHeap::new(),
            cum_weekday: rng::cumulative(&HOURLY_WEEKDAY),
            cum_weekend: rng::cumulative(&HOURLY_WEEKEND),
            source_cum: rng::cumulative(
                &FRAUD_LABEL_SOURCES.iter().map(|s| s.1).collect::<Vec<_>>(),
            ),
            cnp: Mean::new(CNP_BURST_PER_CARD_DAY * s),
            testing: Mean::new(CARD_TESTING_PER_CARD_DAY * s),
            takeover: Mean::new(ACCOUNT_TAKEOVER_PER_CUSTOMER_DAY * s),
            travel: Mean::new(IMPOSSIBLE_TRAVEL_PER_CARD_DAY * s),
            stats: TxStats::default(),
        }
    }

    /// Generates day `d` (0-based): returns its transactions in event-time order, with ids
    /// starting at the returned first id.
    pub fn day(&mut self, d: u32) -> (u64, Vec<RawTx>) {
        let w = self.w;
        let day = w.start_day + i64::from(d);
        // Trips: apply start/end events up to today, in order.
        // A departure or return today is a transit: see `Location`.
        while let Some(&(ed, _, c, city)) = w.trip_events.get(self.trip_cursor) {
            if ed > i64::from(d) {
                break;
            }
            let c = c as usize;
            if ed == i64::from(d) {
                let t = &mut self.transit[c];
                if t.0 == d + 1 {
                    t.2 = city; // a return and a new departure on the same day
                } else {
                    *t = (d + 1, self.cur_city[c], city);
                }
            }
            self.cur_city[c] = city;
            self.trip_cursor += 1;
        }
        // Compromised terminals today.
        self.compromised.iter_mut().for_each(|x| *x = false);
        for win in &w.windows {
            if win.start_day > i64::from(d) {
                break;
            }
            if win.end_day > i64::from(d) {
                self.compromised[win.terminal_id as usize] = true;
            }
        }
        let weekend = calendar::weekday(day) >= 5;
        let cum_owned = if weekend {
            self.cum_weekend.clone()
        } else {
            self.cum_weekday.clone()
        };
        let ctx = DayCtx {
            d,
            day_start: day * MICROS_PER_DAY,
            cum: &cum_owned,
            factor: w.day_factor[d as usize] * w.scale,
        };

        let expected = w.customers.iter().map(|c| c.rate).sum::<f64>() * ctx.factor;
        let mut txs = std::mem::take(&mut self.carry);
        txs.reserve((expected * 1.02) as usize + 64);
        for c in 0..w.customers.len() as u32 {
            self.customer_day(&ctx, c, &mut txs);
        }
        txs.sort_unstable_by_key(|t| (t.time, t.key));
        let day_end = ctx.day_start + MICROS_PER_DAY;
        let split = txs.partition_point(|t| t.time < day_end);
        let mut carry = txs.split_off(split);
        if d + 1 >= w.days {
            self.stats.dropped_after_end += carry.len() as u64;
            carry.clear();
        }
        self.carry = carry;

        let first_id = self.next_tx_id;
        for (i, t) in txs.iter().enumerate() {
            self.stats.emitted[t.pattern as usize] += 1;
            if t.label_source != 0 {
                self.labels.push(Reverse(PendingLabel {
                    time: t.label_time,
                    tx_id: first_id + i as u64,
                    label: t.label,
                    source: t.label_source,
                    tx_time: t.time,
                }));
            }
        }
        self.next_tx_id += txs.len() as u64;
        (first_id, txs)
    }

    /// Labels that have arrived before `until` (all of them when `None`), in arrival order.
    pub fn release_labels(&mut self, until: Option<i64>) -> Vec<PendingLabel> {
        let mut out = Vec::new();
        while let Some(Reverse(l)) = self.labels.peek() {
            if until.is_some_and(|u| l.time >= u) {
                break;
            }
            out.push(*l);
            self.labels.pop();
        }
        out
    }

    #[inline]
    fn sample_time(&self, r: &mut Rng, ctx: &DayCtx<'_>) -> i64 {
        let h = rng::pick_cum(r, ctx.cum) as i64;
        ctx.day_start + (h * 3600 + i64::from(rng::below(r, 3600))) * MICROS_PER_SEC
    }

    /// A fraud label: (source, delay in microseconds).
    #[inline]
    fn fraud_label(&self, r: &mut Rng) -> (u8, i64) {
        let k = rng::pick_cum(r, &self.source_cum);
        let (lo, hi) = FRAUD_LABEL_SOURCES[k].2;
        let delay = lo + i64::from(rng::below(r, (hi - lo + 1) as u32));
        (k as u8 + 1, delay * MICROS_PER_SEC)
    }

    fn label_episode(&self, r: &mut Rng, txs: &mut [RawTx]) {
        let (source, delay) = self.fraud_label(r);
        let last = txs.iter().map(|t| t.time).max().unwrap_or(0);
        for t in txs {
            t.label_source = source;
            t.label = 1;
            t.label_time = last + delay;
        }
    }

    #[inline]
    fn card_of(&self, r: &mut Rng, c: u32) -> u32 {
        let cu = &self.w.customers[c as usize];
        if cu.n_cards > 1 && !rng::chance(r, PRIMARY_CARD_SHARE) {
            cu.first_card + 1
        } else {
            cu.first_card
        }
    }

    #[inline]
    fn random_in(&self, r: &mut Rng, list: &[u32]) -> u32 {
        list[rng::below(r, list.len() as u32) as usize]
    }

    /// A genuine transaction of customer `c` at `time`, where the customer is at `loc`.
    /// `physical` forces a card-present POS payment (the anchor of an impossible-travel
    /// episode). `None` when the customer is in the air and the payment would need a card
    /// reader.
    fn genuine(
        &self,
        r: &mut Rng,
        c: u32,
        loc: &Location,
        time: i64,
        physical: bool,
    ) -> Option<RawTx> {
        let w = self.w;
        let cu = &w.customers[c as usize];
        let mut ch = if physical {
            POS
        } else {
            let u = rng::unif(r) as f32;
            cu.mix_cum.iter().position(|&x| u < x).unwrap_or(3) as u8
        };
        let city = match loc.at(time) {
            Some(city) => city,
            None if ch == ECOM => cu.home as usize,
            None if physical => loc.from as usize,
            None => return None,
        };
        let on_trip = city != cu.home as usize;
        let mut device = 0u64;
        let mut contactless_only = false;
        let terminal = match ch {
            ECOM => {
                device = rng::hash4(
                    w.seed,
                    tag::DEVICE,
                    u64::from(c),
                    u64::from(rng::below(r, u32::from(cu.n_devices))),
                ) | 1;
                if rng::chance(r, USUAL_ECOM_P) {
                    w.usual_ecom(c, rng::below(r, USUAL_ECOM))
                } else {
                    let dom = &w.ecom_by_country[cu.country()];
                    if rng::chance(r, ECOM_DOMESTIC_P) && !dom.is_empty() {
                        self.random_in(r, dom)
                    } else {
                        self.random_in(r, &w.ecom_all)
                    }
                }
            }
            ATM => {
                let usual = if !on_trip && rng::chance(r, USUAL_PHYSICAL_P) {
                    w.usual_physical(c, ATM, rng::below(r, USUAL_ATM))
                } else {
                    None
                };
                match usual {
                    Some(t) => t,
                    None => self.random_in(r, &w.city_kind[city][ATM as usize]),
                }
            }
            _ => {
                let cl = &w.city_kind[city][CONTACTLESS as usize];
                if ch == CONTACTLESS && !cl.is_empty() && rng::chance(r, CONTACTLESS_ONLY_P) {
                    contactless_only = true;
                    self.random_in(r, cl)
                } else {
                    let usual = if !on_trip && rng::chance(r, USUAL_PHYSICAL_P) {
                        w.usual_physical(c, POS, rng::below(r, USUAL_POS))
                    } else {
                        None
                    };
                    match usual {
                        Some(t) => t,
                        None => self.random_in(r, &w.city_kind[city][POS as usize]),
                    }
                }
            }
        };
        let term = &w.terminals[terminal as usize];
        let country = &COUNTRIES[term.country()];
        let mut eur = MCCS[term.mcc as usize].median_eur
            * cu.amount_scale
            * (cu.amount_sigma * rng::normal(r)).exp();
        if ch == CONTACTLESS && eur > CONTACTLESS_LIMIT_EUR {
            if contactless_only {
                eur = CONTACTLESS_LIMIT_EUR;
            } else {
                ch = POS;
            }
        }
        let amount = if ch == ATM {
            atm_amount(eur * country.fx_per_eur, country.atm_unit)
        } else {
            cents(eur * country.fx_per_eur)
        };
        Some(RawTx {
            time,
            key: 0,
            label_time: 0,
            device,
            amount,
            customer: c,
            card: self.card_of(r, c),
            terminal,
            channel: ch,
            pattern: GENUINE,
            label_source: 0,
            label: 0,
        })
    }

    /// An analyst review of a genuine transaction, with [`GENUINE_REVIEW_SHARE`].
    #[inline]
    fn maybe_review(&self, r: &mut Rng, t: &mut RawTx) {
        if rng::chance(r, GENUINE_REVIEW_SHARE) {
            let (lo, hi) = GENUINE_REVIEW_DELAY_S;
            t.label_source = ANALYST_REVIEW;
            t.label = 0;
            t.label_time =
                t.time + (lo + i64::from(rng::below(r, (hi - lo + 1) as u32))) * MICROS_PER_SEC;
        }
    }

    /// Where customer `c` is today.
    fn location(&self, ctx: &DayCtx<'_>, c: u32) -> Location {
        let city = self.cur_city[c as usize];
        let (day1, from, to) = self.transit[c as usize];
        if day1 != ctx.d + 1 || from == to {
            return Location {
                from: city,
                to: city,
                depart: i64::MAX,
                arrive: i64::MAX,
            };
        }
        // Departure between 06:00 and 16:00 UTC; door to door takes 2 h plus 800 km/h.
        let h = rng::hash4(self.w.seed, tag::TRIPS, u64::from(c), u64::from(ctx.d));
        let depart = ctx.day_start + (6 * 3600 + (h % (10 * 3600)) as i64) * MICROS_PER_SEC;
        let (a, b) = (&CITIES[from as usize], &CITIES[to as usize]);
        let hours = 2.0 + crate::world::haversine_km(a.lat, a.lon, b.lat, b.lon) / 800.0;
        Location {
            from,
            to,
            depart,
            arrive: depart + secs(hours * 3600.0),
        }
    }

    fn customer_day(&mut self, ctx: &DayCtx<'_>, c: u32, out: &mut Vec<RawTx>) {
        let w = self.w;
        let cu = &w.customers[c as usize];
        let mut r = rng::stream(w.seed, tag::DAY, u64::from(ctx.d), u64::from(c));
        let loc = self.location(ctx, c);
        let base_key = (u64::from(c) << 32) | (u64::from(ctx.d & 0xFFFF) << 16);
        let mut seq = 0u64;
        let mut push = |out: &mut Vec<RawTx>, mut t: RawTx| {
            t.key = base_key | (seq & 0xFFFF);
            seq += 1;
            out.push(t);
        };

        let n = rng::poisson(&mut r, cu.rate * ctx.factor).min(60_000);
        for _ in 0..n {
            let time = self.sample_time(&mut r, ctx);
            let Some(mut t) = self.genuine(&mut r, c, &loc, time, false) else {
                continue;
            };
            let term = &w.terminals[t.terminal as usize];
            if term.kind != ECOM
                && self.compromised[t.terminal as usize]
                && rng::chance(&mut r, COMPROMISE_FRAUD_SHARE)
            {
                let f = rng::uniform(
                    &mut r,
                    COMPROMISE_AMOUNT_FACTOR.0,
                    COMPROMISE_AMOUNT_FACTOR.1,
                );
                let country = &COUNTRIES[term.country()];
                t.amount = if t.channel == ATM {
                    atm_amount(t.amount * f, country.atm_unit)
                } else {
                    cents(t.amount * f)
                };
                t.pattern = COMPROMISED;
                self.label_episode(&mut r, std::slice::from_mut(&mut t));
            } else {
                self.maybe_review(&mut r, &mut t);
            }
            push(out, t);
        }

        // Fraud episodes: draw all counts first (per card: cnp, testing, travel), then build them.
        let mut counts = [[0u32; 3]; 2];
        for row in counts.iter_mut().take(cu.n_cards as usize) {
            row[0] = self.cnp.draw(&mut r);
            row[1] = self.testing.draw(&mut r);
            row[2] = self.travel.draw(&mut r);
        }
        let takeovers = self.takeover.draw(&mut r);
        let mut ep: Vec<RawTx> = Vec::new();
        for (k, row) in counts.iter().enumerate().take(cu.n_cards as usize) {
            let card = cu.first_card + k as u32;
            for _ in 0..row[0] {
                ep.clear();
                self.cnp_burst(&mut r, ctx, c, card, &mut ep);
                self.label_episode(&mut r, &mut ep);
                self.stats.episodes[CNP_BURST as usize] += 1;
                ep.iter().for_each(|t| push(out, *t));
            }
            for _ in 0..row[1] {
                ep.clear();
                self.card_testing(&mut r, ctx, c, card, &mut ep);
                self.label_episode(&mut r, &mut ep);
                self.stats.episodes[CARD_TESTING as usize] += 1;
                ep.iter().for_each(|t| push(out, *t));
            }
            for _ in 0..row[2] {
                ep.clear();
                let time = self.sample_time(&mut r, ctx);
                let Some(mut anchor) = self.genuine(&mut r, c, &loc, time, true) else {
                    continue;
                };
                anchor.card = card;
                self.maybe_review(&mut r, &mut anchor);
                push(out, anchor);
                let city = w.terminals[anchor.terminal as usize].city as usize;
                self.impossible_travel(&mut r, &anchor, city, &mut ep);
                self.label_episode(&mut r, &mut ep);
                self.stats.episodes[TRAVEL as usize] += 1;
                ep.iter().for_each(|t| push(out, *t));
            }
        }
        for e in 0..takeovers {
            ep.clear();
            self.account_takeover(&mut r, ctx, c, e, &mut ep);
            self.label_episode(&mut r, &mut ep);
            self.stats.episodes[TAKEOVER as usize] += 1;
            ep.iter().for_each(|t| push(out, *t));
        }
    }

    /// A fraudulent transaction template (time, terminal and amount filled in later).
    fn fraud_tpl(c: u32, card: u32, channel: u8, device: u64, pattern: u8) -> RawTx {
        RawTx {
            time: 0,
            key: 0,
            label_time: 0,
            device,
            amount: 0.0,
            customer: c,
            card,
            terminal: 0,
            channel,
            pattern,
            label_source: 0,
            label: 1,
        }
    }

    fn fraud_device(&self, r: &mut Rng) -> u64 {
        rng::hash4(
            self.w.seed,
            tag::FRAUD_DEVICE,
            u64::from(rng::below(r, FRAUD_DEVICE_POOL)),
            0,
        ) | 1
    }

    fn local(&self, terminal: u32, eur: f64) -> f64 {
        cents(eur * COUNTRIES[self.w.terminals[terminal as usize].country()].fx_per_eur)
    }

    fn cnp_burst(&self, r: &mut Rng, ctx: &DayCtx<'_>, c: u32, card: u32, out: &mut Vec<RawTx>) {
        let n = rng::int_in(r, CNP_BURST_TX.0, CNP_BURST_TX.1);
        let device = self.fraud_device(r);
        let tpl = Self::fraud_tpl(c, card, ECOM, device, CNP_BURST);
        let mut time = ctx.day_start + i64::from(rng::below(r, 86_400)) * MICROS_PER_SEC;
        for i in 0..n {
            if i > 0 {
                time += secs(60.0 * rng::uniform(r, CNP_BURST_GAP_MIN.0, CNP_BURST_GAP_MIN.1));
            }
            let terminal = self.random_in(r, &self.w.ecom_all);
            let eur = CNP_BURST_MEDIAN_EUR * (CNP_BURST_SIGMA * rng::normal(r)).exp();
            out.push(RawTx {
                time,
                terminal,
                amount: self.local(terminal, eur),
                ..tpl
            });
        }
    }

    fn card_testing(&self, r: &mut Rng, ctx: &DayCtx<'_>, c: u32, card: u32, out: &mut Vec<RawTx>) {
        let n = rng::int_in(r, CARD_TESTING_TESTS.0, CARD_TESTING_TESTS.1);
        let device = self.fraud_device(r);
        let merchants: Vec<u32> = (0..rng::int_in(r, 1, 3))
            .map(|_| self.random_in(r, &self.w.ecom_all))
            .collect();
        let tpl = Self::fraud_tpl(c, card, ECOM, device, CARD_TESTING);
        let mut time = ctx.day_start + i64::from(rng::below(r, 86_400)) * MICROS_PER_SEC;
        for i in 0..n {
            if i > 0 {
                time += secs(rng::uniform(r, CARD_TESTING_GAP_S.0, CARD_TESTING_GAP_S.1));
            }
            let terminal = merchants[rng::below(r, merchants.len() as u32) as usize];
            let amount = cents(rng::uniform(
                r,
                CARD_TESTING_AMOUNT.0,
                CARD_TESTING_AMOUNT.1,
            ))
            .clamp(CARD_TESTING_AMOUNT.0, CARD_TESTING_AMOUNT.1);
            out.push(RawTx {
                time,
                terminal,
                amount,
                ..tpl
            });
        }
        if rng::chance(r, CARD_TESTING_CASHOUT_P) {
            time += secs(
                60.0 * rng::uniform(
                    r,
                    CARD_TESTING_CASHOUT_DELAY_MIN.0,
                    CARD_TESTING_CASHOUT_DELAY_MIN.1,
                ),
            );
            let terminal = self.random_in(r, &self.w.ecom_all);
            let eur = CARD_TESTING_CASHOUT_MEDIAN_EUR
                * (CARD_TESTING_CASHOUT_SIGMA * rng::normal(r)).exp();
            out.push(RawTx {
                time,
                terminal,
                amount: self.local(terminal, eur),
                ..tpl
            });
        }
    }

    fn account_takeover(
        &self,
        r: &mut Rng,
        ctx: &DayCtx<'_>,
        c: u32,
        e: u32,
        out: &mut Vec<RawTx>,
    ) {
        let w = self.w;
        let cu = &w.customers[c as usize];
        let card = cu.first_card + rng::below(r, u32::from(cu.n_cards));
        let n = rng::int_in(r, ACCOUNT_TAKEOVER_TX.0, ACCOUNT_TAKEOVER_TX.1);
        // A device never seen before: a hash of (day, customer, episode).
        let device = rng::hash4(
            w.seed,
            tag::NEW_DEVICE,
            (u64::from(ctx.d) << 32) | u64::from(c),
            u64::from(e),
        ) | 1;
        let dom = &w.ecom_by_country[cu.country()];
        let list = if dom.is_empty() { &w.ecom_all } else { dom };
        let typical = cu.typical_amount();
        let tpl = Self::fraud_tpl(c, card, ECOM, device, TAKEOVER);
        let mut time = ctx.day_start + i64::from(rng::below(r, 86_400)) * MICROS_PER_SEC;
        for i in 0..n {
            if i > 0 {
                time += secs(
                    60.0 * rng::uniform(r, ACCOUNT_TAKEOVER_GAP_MIN.0, ACCOUNT_TAKEOVER_GAP_MIN.1),
                );
            }
            let terminal = self.random_in(r, list);
            let amount = cents(
                typical * rng::uniform(r, ACCOUNT_TAKEOVER_FACTOR.0, ACCOUNT_TAKEOVER_FACTOR.1),
            );
            out.push(RawTx {
                time,
                terminal,
                amount,
                ..tpl
            });
        }
    }

    fn impossible_travel(&self, r: &mut Rng, anchor: &RawTx, city: usize, out: &mut Vec<RawTx>) {
        let w = self.w;
        let far = &w.far_cities[city];
        if far.is_empty() {
            return;
        }
        let fc = far[rng::below(r, far.len() as u32) as usize] as usize;
        let mut time = anchor.time
            + secs(
                60.0 * rng::uniform(
                    r,
                    IMPOSSIBLE_TRAVEL_DELAY_MIN.0,
                    IMPOSSIBLE_TRAVEL_DELAY_MIN.1,
                ),
            );
        let n = 1 + u32::from(rng::chance(r, IMPOSSIBLE_TRAVEL_SECOND_P));
        for i in 0..n {
            if i > 0 {
                time += secs(
                    60.0 * rng::uniform(
                        r,
                        IMPOSSIBLE_TRAVEL_SECOND_GAP_MIN.0,
                        IMPOSSIBLE_TRAVEL_SECOND_GAP_MIN.1,
                    ),
                );
            }
            let atm = rng::chance(r, IMPOSSIBLE_TRAVEL_ATM_SHARE)
                && !w.city_kind[fc][ATM as usize].is_empty();
            let kind = if atm { ATM } else { POS };
            let terminal = self.random_in(r, &w.city_kind[fc][kind as usize]);
            let country = &COUNTRIES[w.terminals[terminal as usize].country()];
            let median = if atm {
                IMPOSSIBLE_TRAVEL_ATM_MEDIAN_EUR
            } else {
                IMPOSSIBLE_TRAVEL_POS_MEDIAN_EUR
            };
            let local =
                median * (IMPOSSIBLE_TRAVEL_SIGMA * rng::normal(r)).exp() * country.fx_per_eur;
            let amount = if atm {
                atm_amount(local, country.atm_unit)
            } else {
                round_to(local, 2).max(0.01)
            };
            let tpl = Self::fraud_tpl(anchor.customer, anchor.card, kind, 0, TRAVEL);
            out.push(RawTx {
                time,
                terminal,
                amount,
                ..tpl
            });
        }
    }
}
