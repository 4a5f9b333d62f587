#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::io::Read;
fn main() {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/nn5-atm-cash/nn5_dataset_A_long.csv.gz")).unwrap()).read_to_string(&mut text).unwrap();
    let y: Vec<f64> = text.lines().skip(1).filter(|l| l.starts_with("NN5-001,")).take(735).map(|l| l.split(',').nth(2).unwrap().parse().unwrap_or(f64::NAN)).collect();
    let y = riskstream_forecast::series::fill(&y, 7, 4);
    let d = riskstream_forecast::stl::mstl(&y, &[7, 365], 2);
    for t in [0, 1, 2, 100, 400, 700, 730, 734] {
        println!("t {t} y {:.2} adj {:.2} trend {:.2} s7 {:.2} s365 {:.2}", y[t], d.adjusted[t], d.trend[t], d.seasonals[0].1[t], d.seasonals[1].1[t]);
    }
    let s = riskstream_forecast::stl::stl(&y, 7, 11);
    for t in [0, 100, 734] { println!("stl7 t {t} s {:.2} tr {:.2}", s.seasonal[t], s.trend[t]); }
}
