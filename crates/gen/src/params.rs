//! Every number the simulation uses, in one place, so the documentation
//! (`docs/generator.md`), the manifest and the tests all read the same values.
//!
//! Rates are per *exposure unit* (a card-day, a customer-day, a terminal-day) so they can be
//! checked with a binomial/Poisson test. When [`GenConfig::transactions`](crate::GenConfig)
//! rescales activity by a factor `s`, the per-card-day and per-customer-day fraud episode
//! rates are multiplied by the same `s`, so the *share* of fraud stays what is documented
//! here. Episode counts per exposure unit are Poisson with mean `rate × s`.

use serde::Serialize;

// ---------------------------------------------------------------------------------------
// Fraud patterns
// ---------------------------------------------------------------------------------------

/// `cnp_burst`: expected episodes per card-day (Poisson), times the activity scale.
pub const CNP_BURST_PER_CARD_DAY: f64 = 0.000_20;
/// `cnp_burst`: transactions per episode, uniform integer in this inclusive range.
pub const CNP_BURST_TX: (u32, u32) = (3, 15);
/// `cnp_burst`: gap between consecutive transactions, uniform minutes.
pub const CNP_BURST_GAP_MIN: (f64, f64) = (2.0, 25.0);
/// `cnp_burst`: amount in EUR, log-normal with this median …
pub const CNP_BURST_MEDIAN_EUR: f64 = 180.0;
/// … and this log-sd.
pub const CNP_BURST_SIGMA: f64 = 0.6;

/// `card_testing`: expected episodes per card-day (Poisson), times the activity scale.
pub const CARD_TESTING_PER_CARD_DAY: f64 = 0.000_20;
/// `card_testing`: number of tiny test transactions, uniform integer.
pub const CARD_TESTING_TESTS: (u32, u32) = (3, 10);
/// `card_testing`: amount of a test transaction, uniform in the merchant's currency.
pub const CARD_TESTING_AMOUNT: (f64, f64) = (0.50, 2.00);
/// `card_testing`: gap between test transactions, uniform seconds.
pub const CARD_TESTING_GAP_S: (f64, f64) = (10.0, 180.0);
/// `card_testing`: probability that the tests are followed by one large purchase.
pub const CARD_TESTING_CASHOUT_P: f64 = 0.6;
/// `card_testing`: delay of the large purchase after the last test, uniform minutes.
pub const CARD_TESTING_CASHOUT_DELAY_MIN: (f64, f64) = (5.0, 60.0);
/// `card_testing`: large purchase in EUR, log-normal median …
pub const CARD_TESTING_CASHOUT_MEDIAN_EUR: f64 = 400.0;
/// … and log-sd.
pub const CARD_TESTING_CASHOUT_SIGMA: f64 = 0.5;

/// `compromised_terminal`: probability per physical (pos, contactless, atm) terminal-day
/// that a compromise starts on a terminal that is not compromised.
pub const COMPROMISE_START_PER_TERMINAL_DAY: f64 = 0.000_4;
/// `compromised_terminal`: length of a compromise, uniform integer days.
pub const COMPROMISE_DAYS: (u32, u32) = (14, 28);
/// `compromised_terminal`: share of the transactions at a compromised terminal, during the
/// compromise, that are fraud (made with cloned cards).
pub const COMPROMISE_FRAUD_SHARE: f64 = 0.25;
/// `compromised_terminal`: the amount of a cloned-card transaction is the genuine draw times
/// a uniform factor in this range.
pub const COMPROMISE_AMOUNT_FACTOR: (f64, f64) = (1.5, 4.0);
/// The compromise process starts this many days before the simulated period, so the share
/// of compromised terminals is already stationary on day 0.
pub const COMPROMISE_WARMUP_DAYS: u32 = 28;

/// `account_takeover`: expected episodes per customer-day (Poisson), times the activity scale.
pub const ACCOUNT_TAKEOVER_PER_CUSTOMER_DAY: f64 = 0.000_40;
/// `account_takeover`: transactions per episode, uniform integer.
pub const ACCOUNT_TAKEOVER_TX: (u32, u32) = (1, 3);
/// `account_takeover`: amount = the customer's typical amount times a uniform factor.
pub const ACCOUNT_TAKEOVER_FACTOR: (f64, f64) = (5.0, 20.0);
/// `account_takeover`: gap between transactions, uniform minutes.
pub const ACCOUNT_TAKEOVER_GAP_MIN: (f64, f64) = (5.0, 60.0);

/// `impossible_travel`: expected episodes per card-day (Poisson), times the activity scale.
pub const IMPOSSIBLE_TRAVEL_PER_CARD_DAY: f64 = 0.000_30;
/// `impossible_travel`: delay of the first fraudulent card-present transaction after the
/// genuine anchor transaction, uniform minutes.
pub const IMPOSSIBLE_TRAVEL_DELAY_MIN: (f64, f64) = (10.0, 120.0);
/// `impossible_travel`: probability of a second fraudulent transaction in the far city …
pub const IMPOSSIBLE_TRAVEL_SECOND_P: f64 = 0.3;
/// … after this many minutes (uniform).
pub const IMPOSSIBLE_TRAVEL_SECOND_GAP_MIN: (f64, f64) = (5.0, 45.0);
/// `impossible_travel`: the far city is in another country and at least this far (km).
pub const IMPOSSIBLE_TRAVEL_MIN_KM: f64 = 2_000.0;
/// `impossible_travel`: share of fraudulent transactions at an ATM (the rest at a POS).
pub const IMPOSSIBLE_TRAVEL_ATM_SHARE: f64 = 0.4;
/// `impossible_travel`: POS amount in EUR, log-normal median …
pub const IMPOSSIBLE_TRAVEL_POS_MEDIAN_EUR: f64 = 150.0;
/// … ATM withdrawal median in EUR (rounded to the local note unit) …
pub const IMPOSSIBLE_TRAVEL_ATM_MEDIAN_EUR: f64 = 250.0;
/// … and the log-sd of both.
pub const IMPOSSIBLE_TRAVEL_SIGMA: f64 = 0.5;

/// Size of the pool of fraudster devices shared by `cnp_burst` and `card_testing` (fraud
/// rings reuse devices; `account_takeover` always uses a never-seen device).
pub const FRAUD_DEVICE_POOL: u32 = 500;

// ---------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------

/// Label sources for fraud: (name, share, delay range in seconds). The source and the
/// delay are drawn once per fraud *episode*; the label time of every transaction of the
/// episode is the episode's last transaction time plus the delay (a customer reports the
/// whole burst at once). A compromised-terminal fraud is an episode of one transaction.
pub const FRAUD_LABEL_SOURCES: [(&str, f64, (i64, i64)); 3] = [
    ("customer_report", 0.55, (3_600, 3 * 86_400)),
    ("chargeback", 0.30, (7 * 86_400, 60 * 86_400)),
    ("analyst_review", 0.15, (600, 2 * 86_400)),
];
/// Probability that a genuine transaction is reviewed by an analyst and labelled 0.
pub const GENUINE_REVIEW_SHARE: f64 = 0.002;
/// Delay of a genuine analyst review, uniform seconds (source `analyst_review`).
pub const GENUINE_REVIEW_DELAY_S: (i64, i64) = (600, 2 * 86_400);
/// Longest time from an episode's first to its last transaction, per pattern, in seconds:
/// the per-transaction label delay can exceed the source's range by at most this much.
pub const MAX_EPISODE_SPAN_S: [(&str, i64); 5] = [
    ("cnp_burst", 14 * 25 * 60),
    ("card_testing", 9 * 180 + 60 * 60),
    ("compromised_terminal", 0),
    ("account_takeover", 2 * 60 * 60),
    ("impossible_travel", 45 * 60),
];

// ---------------------------------------------------------------------------------------
// Customers
// ---------------------------------------------------------------------------------------

/// Segment table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Segment {
    /// Name in the `segment` column.
    pub name: &'static str,
    /// Share of customers.
    pub share: f64,
    /// Age range (uniform integer, inclusive).
    pub age: (u32, u32),
    /// Median yearly income in EUR (log-normal, log-sd 0.35).
    pub income_median_eur: f64,
    /// Mean daily transaction rate (each customer's rate is Gamma(shape 2) around it).
    pub daily_rate: f64,
    /// Median spending multiplier (log-normal, log-sd 0.3) applied to every MCC's median.
    pub amount_scale: f64,
    /// Channel shares: pos, contactless, ecom, atm (each customer's shares are these
    /// times a uniform factor in [0.6, 1.4], renormalised).
    pub channels: [f64; 4],
    /// Probability of a second card.
    pub second_card_p: f64,
}

/// The customer segments.
pub const SEGMENTS: [Segment; 5] = [
    Segment {
        name: "student",
        share: 0.12,
        age: (18, 27),
        income_median_eur: 12_000.0,
        daily_rate: 2.0,
        amount_scale: 0.6,
        channels: [0.25, 0.35, 0.35, 0.05],
        second_card_p: 0.25,
    },
    Segment {
        name: "mass",
        share: 0.55,
        age: (25, 66),
        income_median_eur: 38_000.0,
        daily_rate: 2.2,
        amount_scale: 1.0,
        channels: [0.35, 0.30, 0.25, 0.10],
        second_card_p: 0.35,
    },
    Segment {
        name: "affluent",
        share: 0.15,
        age: (30, 72),
        income_median_eur: 110_000.0,
        daily_rate: 2.8,
        amount_scale: 1.8,
        channels: [0.30, 0.30, 0.35, 0.05],
        second_card_p: 0.65,
    },
    Segment {
        name: "senior",
        share: 0.13,
        age: (66, 92),
        income_median_eur: 28_000.0,
        daily_rate: 1.3,
        amount_scale: 0.9,
        channels: [0.55, 0.15, 0.10, 0.20],
        second_card_p: 0.20,
    },
    Segment {
        name: "small_business",
        share: 0.05,
        age: (28, 66),
        income_median_eur: 75_000.0,
        daily_rate: 3.5,
        amount_scale: 1.5,
        channels: [0.35, 0.20, 0.40, 0.05],
        second_card_p: 0.60,
    },
];

/// A customer's typical amount (column `typical_amount`, home currency) is their spending
/// multiplier times this many EUR; `account_takeover` amounts are 5–20× it.
pub const TYPICAL_AMOUNT_EUR: f64 = 30.0;
/// Per-customer log-sd of amounts, uniform in this range.
pub const AMOUNT_SIGMA: (f64, f64) = (0.45, 0.85);
/// Probability that a customer has a second device for card-not-present payments.
pub const SECOND_DEVICE_P: f64 = 0.5;
/// Share of a two-card customer's transactions on the primary card.
pub const PRIMARY_CARD_SHARE: f64 = 0.7;
/// Customer tenure before the period starts: exponential with this mean in years, capped
/// at (age − 18) years.
pub const TENURE_MEAN_YEARS: f64 = 6.0;

/// Usual terminals per customer: POS, ATM and e-commerce merchants they return to.
pub const USUAL_POS: u32 = 12;
/// See [`USUAL_POS`].
pub const USUAL_ATM: u32 = 2;
/// See [`USUAL_POS`].
pub const USUAL_ECOM: u32 = 6;
/// Probability that a card-present transaction at home is at a usual terminal.
pub const USUAL_PHYSICAL_P: f64 = 0.85;
/// Probability that an e-commerce transaction is at a usual merchant.
pub const USUAL_ECOM_P: f64 = 0.80;
/// Probability that a new e-commerce merchant is domestic.
pub const ECOM_DOMESTIC_P: f64 = 0.85;
/// Probability that a contactless payment happens at a contactless-only terminal (transit
/// gates, vending, self-checkout) rather than a tap at a normal POS.
pub const CONTACTLESS_ONLY_P: f64 = 0.3;
/// Contactless limit in EUR: a tap above it becomes a chip-and-PIN `pos` transaction.
pub const CONTACTLESS_LIMIT_EUR: f64 = 50.0;

/// Genuine travel: probability per customer-day at home that a trip starts.
pub const TRIP_START_PER_DAY: f64 = 0.004;
/// Trip length, uniform integer days.
pub const TRIP_DAYS: (u32, u32) = (2, 9);
/// Share of trips to a city outside Europe (the rest go to another home city).
pub const TRIP_FAR_SHARE: f64 = 0.25;

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

/// Relative transaction intensity per hour (UTC) on weekdays.
pub const HOURLY_WEEKDAY: [f64; 24] = [
    0.6, 0.35, 0.25, 0.2, 0.25, 0.5, 1.2, 2.5, 3.8, 4.5, 5.0, 5.8, 7.0, 6.6, 5.5, 5.3, 5.8, 6.8,
    7.2, 6.5, 5.2, 4.0, 2.6, 1.4,
];
/// Relative transaction intensity per hour (UTC) on Saturdays and Sundays.
pub const HOURLY_WEEKEND: [f64; 24] = [
    1.0, 0.7, 0.5, 0.35, 0.25, 0.3, 0.6, 1.2, 2.2, 3.6, 5.2, 6.5, 7.2, 7.0, 6.4, 6.0, 6.0, 6.2,
    6.5, 6.2, 5.2, 4.2, 3.0, 1.8,
];
/// Multiplier of every customer's daily rate, Monday … Sunday.
pub const WEEKDAY_FACTOR: [f64; 7] = [0.95, 0.97, 1.0, 1.02, 1.15, 1.10, 0.80];
/// Multiplier of the daily rate on a public holiday (see [`crate::calendar`]).
pub const HOLIDAY_FACTOR: f64 = 0.7;

// ---------------------------------------------------------------------------------------
// Places, merchants, currencies
// ---------------------------------------------------------------------------------------

/// A city where terminals (and, for European cities, customers) are.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct City {
    /// Name in the `city` columns.
    pub name: &'static str,
    /// Index into [`COUNTRIES`].
    pub country: usize,
    /// Latitude of the centre.
    pub lat: f64,
    /// Longitude of the centre.
    pub lon: f64,
    /// Share of customers living there (0 for cities that only see travellers).
    pub home_weight: f64,
}

/// A country: ISO 3166 code, ISO 4217 currency, units per EUR, ATM note unit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Country {
    /// ISO 3166-1 alpha-2.
    pub code: &'static str,
    /// ISO 4217 currency code.
    pub currency: &'static str,
    /// Units of the currency per EUR (fixed rates, mid-2024).
    pub fx_per_eur: f64,
    /// ATM withdrawals are multiples of this many currency units.
    pub atm_unit: f64,
}

/// The countries.
pub const COUNTRIES: [Country; 12] = [
    Country {
        code: "DE",
        currency: "EUR",
        fx_per_eur: 1.0,
        atm_unit: 10.0,
    },
    Country {
        code: "FR",
        currency: "EUR",
        fx_per_eur: 1.0,
        atm_unit: 10.0,
    },
    Country {
        code: "NL",
        currency: "EUR",
        fx_per_eur: 1.0,
        atm_unit: 10.0,
    },
    Country {
        code: "ES",
        currency: "EUR",
        fx_per_eur: 1.0,
        atm_unit: 10.0,
    },
    Country {
        code: "IT",
        currency: "EUR",
        fx_per_eur: 1.0,
        atm_unit: 10.0,
    },
    Country {
        code: "GB",
        currency: "GBP",
        fx_per_eur: 0.85,
        atm_unit: 10.0,
    },
    Country {
        code: "US",
        currency: "USD",
        fx_per_eur: 1.08,
        atm_unit: 20.0,
    },
    Country {
        code: "SG",
        currency: "SGD",
        fx_per_eur: 1.45,
        atm_unit: 10.0,
    },
    Country {
        code: "BR",
        currency: "BRL",
        fx_per_eur: 5.4,
        atm_unit: 50.0,
    },
    Country {
        code: "NG",
        currency: "NGN",
        fx_per_eur: 1_600.0,
        atm_unit: 1_000.0,
    },
    Country {
        code: "TH",
        currency: "THB",
        fx_per_eur: 39.0,
        atm_unit: 100.0,
    },
    Country {
        code: "AE",
        currency: "AED",
        fx_per_eur: 3.97,
        atm_unit: 50.0,
    },
];

/// The distinct currencies, in dictionary order.
pub const CURRENCIES: [&str; 8] = ["EUR", "GBP", "USD", "SGD", "BRL", "NGN", "THB", "AED"];

/// The cities. Customers live in the nine European ones (by `home_weight`); the other six
/// only see travellers and fraudsters.
pub const CITIES: [City; 15] = [
    City {
        name: "Berlin",
        country: 0,
        lat: 52.5200,
        lon: 13.4050,
        home_weight: 0.18,
    },
    City {
        name: "Munich",
        country: 0,
        lat: 48.1351,
        lon: 11.5820,
        home_weight: 0.10,
    },
    City {
        name: "Hamburg",
        country: 0,
        lat: 53.5511,
        lon: 9.9937,
        home_weight: 0.08,
    },
    City {
        name: "Paris",
        country: 1,
        lat: 48.8566,
        lon: 2.3522,
        home_weight: 0.17,
    },
    City {
        name: "Lyon",
        country: 1,
        lat: 45.7640,
        lon: 4.8357,
        home_weight: 0.07,
    },
    City {
        name: "Amsterdam",
        country: 2,
        lat: 52.3676,
        lon: 4.9041,
        home_weight: 0.10,
    },
    City {
        name: "Madrid",
        country: 3,
        lat: 40.4168,
        lon: -3.7038,
        home_weight: 0.12,
    },
    City {
        name: "Milan",
        country: 4,
        lat: 45.4642,
        lon: 9.1900,
        home_weight: 0.10,
    },
    City {
        name: "London",
        country: 5,
        lat: 51.5074,
        lon: -0.1278,
        home_weight: 0.08,
    },
    City {
        name: "New York",
        country: 6,
        lat: 40.7128,
        lon: -74.0060,
        home_weight: 0.0,
    },
    City {
        name: "Singapore",
        country: 7,
        lat: 1.3521,
        lon: 103.8198,
        home_weight: 0.0,
    },
    City {
        name: "Sao Paulo",
        country: 8,
        lat: -23.5505,
        lon: -46.6333,
        home_weight: 0.0,
    },
    City {
        name: "Lagos",
        country: 9,
        lat: 6.5244,
        lon: 3.3792,
        home_weight: 0.0,
    },
    City {
        name: "Bangkok",
        country: 10,
        lat: 13.7563,
        lon: 100.5018,
        home_weight: 0.0,
    },
    City {
        name: "Dubai",
        country: 11,
        lat: 25.2048,
        lon: 55.2708,
        home_weight: 0.0,
    },
];

/// Number of cities where customers live (the first entries of [`CITIES`]).
pub const HOME_CITIES: usize = 9;
/// Log-sd of a location around its city centre, in degrees (about 4–5 km).
pub const LOCATION_JITTER_DEG: f64 = 0.04;

/// A merchant category (ISO 18245 MCC) with its amount scale.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Mcc {
    /// The four-digit code.
    pub code: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Median amount in EUR for a customer with spending multiplier 1.
    pub median_eur: f64,
    /// Weights of this MCC among new terminals of each kind: pos, contactless-only, ecom, atm.
    pub weights: [f64; 4],
}

/// The merchant categories.
pub const MCCS: [Mcc; 19] = [
    Mcc {
        code: "5411",
        description: "Grocery stores, supermarkets",
        median_eur: 32.0,
        weights: [0.20, 0.15, 0.0, 0.0],
    },
    Mcc {
        code: "5499",
        description: "Miscellaneous food stores, convenience",
        median_eur: 9.0,
        weights: [0.08, 0.10, 0.0, 0.0],
    },
    Mcc {
        code: "5812",
        description: "Eating places, restaurants",
        median_eur: 28.0,
        weights: [0.16, 0.0, 0.0, 0.0],
    },
    Mcc {
        code: "5814",
        description: "Fast food restaurants",
        median_eur: 10.0,
        weights: [0.08, 0.25, 0.0, 0.0],
    },
    Mcc {
        code: "5541",
        description: "Service stations",
        median_eur: 48.0,
        weights: [0.08, 0.0, 0.0, 0.0],
    },
    Mcc {
        code: "5912",
        description: "Drug stores, pharmacies",
        median_eur: 16.0,
        weights: [0.07, 0.0, 0.0, 0.0],
    },
    Mcc {
        code: "5311",
        description: "Department stores",
        median_eur: 55.0,
        weights: [0.05, 0.0, 0.10, 0.0],
    },
    Mcc {
        code: "5651",
        description: "Family clothing stores",
        median_eur: 60.0,
        weights: [0.07, 0.0, 0.14, 0.0],
    },
    Mcc {
        code: "5732",
        description: "Electronics stores",
        median_eur: 150.0,
        weights: [0.04, 0.0, 0.10, 0.0],
    },
    Mcc {
        code: "5999",
        description: "Miscellaneous and specialty retail",
        median_eur: 35.0,
        weights: [0.08, 0.0, 0.12, 0.0],
    },
    Mcc {
        code: "4111",
        description: "Local and suburban commuter transport",
        median_eur: 3.5,
        weights: [0.0, 0.50, 0.05, 0.0],
    },
    Mcc {
        code: "4121",
        description: "Taxicabs and limousines, ride hailing",
        median_eur: 20.0,
        weights: [0.04, 0.0, 0.08, 0.0],
    },
    Mcc {
        code: "4511",
        description: "Airlines",
        median_eur: 240.0,
        weights: [0.0, 0.0, 0.05, 0.0],
    },
    Mcc {
        code: "7011",
        description: "Hotels and motels",
        median_eur: 130.0,
        weights: [0.05, 0.0, 0.06, 0.0],
    },
    Mcc {
        code: "5815",
        description: "Digital goods: media",
        median_eur: 9.0,
        weights: [0.0, 0.0, 0.12, 0.0],
    },
    Mcc {
        code: "5816",
        description: "Digital goods: games",
        median_eur: 15.0,
        weights: [0.0, 0.0, 0.06, 0.0],
    },
    Mcc {
        code: "4814",
        description: "Telecommunication services",
        median_eur: 35.0,
        weights: [0.0, 0.0, 0.08, 0.0],
    },
    Mcc {
        code: "7995",
        description: "Betting and gambling",
        median_eur: 25.0,
        weights: [0.0, 0.0, 0.04, 0.0],
    },
    Mcc {
        code: "6011",
        description: "Automated cash disbursements (ATM)",
        median_eur: 100.0,
        weights: [0.0, 0.0, 0.0, 1.0],
    },
];

/// Transaction channels, in dictionary order (also terminal kinds).
pub const CHANNELS: [&str; 4] = ["pos", "contactless", "ecom", "atm"];
/// Share of merchants of each kind: pos, contactless-only, ecom, atm.
pub const MERCHANT_KIND_SHARE: [f64; 4] = [0.55, 0.10, 0.25, 0.10];
/// Extra terminals per merchant beyond the first, Poisson mean, per kind.
pub const EXTRA_TERMINALS_MEAN: [f64; 4] = [0.7, 2.0, 0.0, 1.5];
/// Share of physical merchants in the six non-European cities.
pub const FOREIGN_MERCHANT_SHARE: f64 = 0.10;
/// Share of e-commerce merchants registered outside the customers' countries (US, SG).
pub const FOREIGN_ECOM_SHARE: f64 = 0.15;
/// The minimum number of terminals: every city needs each kind of terminal.
pub const MIN_TERMINALS: u32 = 100;

/// Fraud pattern names, in dictionary order (index 0 is genuine).
pub const PATTERNS: [&str; 6] = [
    "none",
    "cnp_burst",
    "card_testing",
    "compromised_terminal",
    "account_takeover",
    "impossible_travel",
];

// ---------------------------------------------------------------------------------------
// Loans
// ---------------------------------------------------------------------------------------

/// Loan applications per customer-day on weekdays (weekends: × 0.4).
pub const LOAN_APPLICATIONS_PER_CUSTOMER_DAY: f64 = 0.001;
/// Loan purposes: (name, share, median amount EUR, default log-odds shift).
pub const LOAN_PURPOSES: [(&str, f64, f64, f64); 7] = [
    ("car", 0.22, 15_000.0, -0.2),
    ("home_improvement", 0.16, 12_000.0, -0.3),
    ("debt_consolidation", 0.20, 10_000.0, 0.3),
    ("education", 0.08, 8_000.0, 0.0),
    ("personal", 0.18, 5_000.0, 0.1),
    ("business", 0.08, 25_000.0, 0.4),
    ("medical", 0.08, 4_000.0, 0.2),
];
/// Loan terms in months offered.
pub const LOAN_TERMS: [i64; 7] = [12, 24, 36, 48, 60, 72, 84];

/// The logistic default model: `P(defaulted) = sigmoid(z)` with
/// `z = intercept + dti·(debt_to_income − 0.30) + income·ln(income / 40 000)
///      + existing·existing_loans + history·(credit_history_months − 60)
///      + employment·(employment_years − 5) + amount·ln(amount / 10 000)
///      + age·(age − 40) + purpose shift`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DefaultModel {
    /// Intercept, calibrated for an overall default rate of about 11 %.
    pub intercept: f64,
    /// Per unit of debt-to-income above 0.30.
    pub dti: f64,
    /// Per unit of log income (relative to 40 000 EUR).
    pub income: f64,
    /// Per existing loan.
    pub existing: f64,
    /// Per month of credit history above 60.
    pub history: f64,
    /// Per year of employment above 5.
    pub employment: f64,
    /// Per unit of log amount (relative to 10 000 EUR).
    pub amount: f64,
    /// Per year of age above 40.
    pub age: f64,
}

/// The default model's coefficients.
pub const DEFAULT_MODEL: DefaultModel = DefaultModel {
    intercept: -2.35,
    dti: 5.0,
    income: -0.9,
    existing: 0.30,
    history: -0.010,
    employment: -0.05,
    amount: 0.35,
    age: -0.015,
};

// ---------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------

/// Products, in dictionary order. `current_account` is held by every customer; the others
/// follow [`crate::products`]'s logistic affinities.
pub const PRODUCTS: [&str; 7] = [
    "current_account",
    "savings",
    "credit_card",
    "mortgage",
    "personal_loan",
    "insurance",
    "investment",
];

// ---------------------------------------------------------------------------------------
// Cash volumes
// ---------------------------------------------------------------------------------------

/// Branches: one per this many customers (at least one per home city).
pub const CUSTOMERS_PER_BRANCH: u32 = 250;
/// Branch site ids start here (ATM sites use their terminal id).
pub const BRANCH_ID_BASE: i64 = 1_000_000_000;
/// Median withdrawals per day at an ATM / a branch (log-normal, log-sd 0.5 / 0.4).
pub const SITE_MEDIAN_WITHDRAWALS: (f64, f64) = (120.0, 60.0);
/// Mean ticket in EUR, uniform per site: ATM, branch.
pub const SITE_TICKET_EUR: ((f64, f64), (f64, f64)) = ((80.0, 180.0), (250.0, 600.0));
/// Weekly factor, Monday … Sunday, for ATMs.
pub const ATM_WEEKLY: [f64; 7] = [0.95, 0.90, 0.95, 1.00, 1.30, 1.20, 0.70];
/// Weekly factor, Monday … Sunday, for branches (closed on Sunday).
pub const BRANCH_WEEKLY: [f64; 7] = [1.10, 1.00, 1.00, 1.00, 1.20, 0.50, 0.0];
/// Payday factor on the last day of the month and the 1st.
pub const PAYDAY_PEAK: f64 = 1.35;
/// Payday factor on the 2nd and the 15th.
pub const PAYDAY_SHOULDER: f64 = 1.15;
/// ATM factor on a public holiday (branches are closed).
pub const ATM_HOLIDAY: f64 = 0.6;
/// Factor on the day before a public holiday.
pub const PRE_HOLIDAY: f64 = 1.25;
/// Day-to-day noise: the expected count is multiplied by Gamma(shape, 1/shape) before the
/// Poisson draw (negative binomial counts).
pub const VOLUME_NOISE_SHAPE: f64 = 20.0;
/// Share of sites with a linear trend (at least two sites get one).
pub const TREND_SITE_SHARE: f64 = 0.05;
/// Trend of those sites: uniform change per year (relative), floored at 0.2 of the base.
pub const TREND_PER_YEAR: (f64, f64) = (-0.5, 0.8);

/// Everything above as one serialisable value, for the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    /// Segments, places, currencies, merchant categories, habits and seasonality.
    pub world: serde_json::Value,
    /// Fraud episode rates and shapes.
    pub fraud: serde_json::Value,
    /// Label sources and delays.
    pub labels: serde_json::Value,
    /// Loan model.
    pub loans: serde_json::Value,
    /// Volume model.
    pub volumes: serde_json::Value,
}

/// The documented rates, for the manifest.
pub fn rates() -> Rates {
    use serde_json::json;
    Rates {
        world: json!({
            "segments": SEGMENTS, "cities": CITIES, "countries": COUNTRIES, "mccs": MCCS,
            "merchant_kind_share": {"pos": MERCHANT_KIND_SHARE[0], "contactless": MERCHANT_KIND_SHARE[1], "ecom": MERCHANT_KIND_SHARE[2], "atm": MERCHANT_KIND_SHARE[3]},
            "typical_amount_eur": TYPICAL_AMOUNT_EUR, "amount_log_sd": AMOUNT_SIGMA,
            "usual_terminals": {"pos": USUAL_POS, "atm": USUAL_ATM, "ecom": USUAL_ECOM, "physical_p": USUAL_PHYSICAL_P, "ecom_p": USUAL_ECOM_P},
            "contactless_only_p": CONTACTLESS_ONLY_P, "contactless_limit_eur": CONTACTLESS_LIMIT_EUR,
            "trip_start_per_day": TRIP_START_PER_DAY, "trip_days": TRIP_DAYS, "trip_far_share": TRIP_FAR_SHARE,
            "hourly_weekday": HOURLY_WEEKDAY, "hourly_weekend": HOURLY_WEEKEND,
            "weekday_factor": WEEKDAY_FACTOR, "holiday_factor": HOLIDAY_FACTOR,
        }),
        fraud: json!({
            "cnp_burst": {"episodes_per_card_day": CNP_BURST_PER_CARD_DAY, "tx_per_episode": CNP_BURST_TX, "gap_minutes": CNP_BURST_GAP_MIN, "median_eur": CNP_BURST_MEDIAN_EUR, "log_sd": CNP_BURST_SIGMA},
            "card_testing": {"episodes_per_card_day": CARD_TESTING_PER_CARD_DAY, "tests_per_episode": CARD_TESTING_TESTS, "test_amount": CARD_TESTING_AMOUNT, "gap_seconds": CARD_TESTING_GAP_S, "cashout_probability": CARD_TESTING_CASHOUT_P, "cashout_delay_minutes": CARD_TESTING_CASHOUT_DELAY_MIN, "cashout_median_eur": CARD_TESTING_CASHOUT_MEDIAN_EUR},
            "compromised_terminal": {"starts_per_physical_terminal_day": COMPROMISE_START_PER_TERMINAL_DAY, "days": COMPROMISE_DAYS, "fraud_share_of_terminal_tx": COMPROMISE_FRAUD_SHARE, "amount_factor": COMPROMISE_AMOUNT_FACTOR, "warmup_days": COMPROMISE_WARMUP_DAYS},
            "account_takeover": {"episodes_per_customer_day": ACCOUNT_TAKEOVER_PER_CUSTOMER_DAY, "tx_per_episode": ACCOUNT_TAKEOVER_TX, "amount_factor_of_typical": ACCOUNT_TAKEOVER_FACTOR, "gap_minutes": ACCOUNT_TAKEOVER_GAP_MIN},
            "impossible_travel": {"episodes_per_card_day": IMPOSSIBLE_TRAVEL_PER_CARD_DAY, "delay_minutes": IMPOSSIBLE_TRAVEL_DELAY_MIN, "second_tx_probability": IMPOSSIBLE_TRAVEL_SECOND_P, "min_distance_km": IMPOSSIBLE_TRAVEL_MIN_KM},
            "scaling": "episode rates are multiplied by report.activity_scale",
        }),
        labels: json!({
            "fraud_sources": FRAUD_LABEL_SOURCES.iter().map(|(n, s, (lo, hi))| json!({"source": n, "share": s, "delay_seconds": [lo, hi], "measured_from": "episode's last transaction"})).collect::<Vec<_>>(),
            "genuine_review_share": GENUINE_REVIEW_SHARE,
            "genuine_review_delay_seconds": GENUINE_REVIEW_DELAY_S,
            "max_episode_span_seconds": MAX_EPISODE_SPAN_S.iter().map(|(n, s)| (n.to_string(), json!(s))).collect::<serde_json::Map<_, _>>(),
        }),
        loans: json!({
            "applications_per_customer_day": LOAN_APPLICATIONS_PER_CUSTOMER_DAY,
            "purposes": LOAN_PURPOSES.iter().map(|(n, s, m, z)| json!({"purpose": n, "share": s, "median_eur": m, "log_odds_shift": z})).collect::<Vec<_>>(),
            "default_model": DEFAULT_MODEL,
        }),
        volumes: json!({
            "atm_weekly": ATM_WEEKLY, "branch_weekly": BRANCH_WEEKLY, "payday_peak": PAYDAY_PEAK,
            "payday_shoulder": PAYDAY_SHOULDER, "atm_holiday": ATM_HOLIDAY, "pre_holiday": PRE_HOLIDAY,
            "noise_gamma_shape": VOLUME_NOISE_SHAPE, "trend_site_share": TREND_SITE_SHARE, "trend_per_year": TREND_PER_YEAR,
        }),
    }
}
