//! NN5 backtest of one or more methods, the competition's protocol (735 training days,
//! 56-day horizon, 111 series): mean SMAPE, SMAPE_ε, MASE, coverage and seconds per method.
//! The same numbers as `riskstream forecast --backtest`, without building the CLI.
//!
//! ```sh
//! cargo run --release -p riskstream-forecast --example nn5 -- ets theta mstl snaive ensemble \
//!     [--log] [--zeros-missing] [--box] [--members ets,theta] [--mean] [--drop-last 56]
//!     [--out ets.csv]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring script

use riskstream_forecast::{
    backtest_all, prepare, summarize, Bounds, FillOptions, ForecastParams, Method, Observation,
    PrepareOptions, Series,
};
use std::io::{Read, Write};

/// CPU seconds (user + system) of this process so far, from /proc (Linux); 0 elsewhere.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields 14 and 15 of the file (utime, stime) are 12 and 13 after the command name.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let out = args
        .iter()
        .position(|a| a == "--out")
        .map(|i| args[i + 1].clone());
    let path = std::env::var("NN5").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/nn5-atm-cash/nn5_dataset_A_long.csv.gz"
        )
        .into()
    });
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let mut by: Vec<(String, Vec<Observation>)> = Vec::new();
    for (i, l) in text.lines().skip(1).enumerate() {
        let c: Vec<&str> = l.split(',').collect();
        let day = riskstream_core::time::parse_iso8601(c[1])
            .unwrap()
            .div_euclid(86_400_000_000);
        let value = if c[2].is_empty() {
            None
        } else {
            Some(c[2].parse().unwrap())
        };
        if by.last().is_none_or(|(id, _)| id != c[0]) {
            by.push((c[0].to_string(), Vec::new()));
        }
        by.last_mut().unwrap().1.push(Observation {
            day,
            value,
            line: i as u64 + 2,
        });
    }
    // `--drop-last 56` scores on the last 56 training days instead (the validation window
    // of Hewamalage et al.), to choose a method without looking at the test days.
    let drop: usize = args
        .iter()
        .position(|a| a == "--drop-last")
        .map_or(0, |i| args[i + 1].parse().unwrap());
    let series: Vec<Series> = by
        .into_iter()
        .map(|(id, o)| {
            let keep = o.len() - drop;
            prepare(&id, o[..keep].to_vec(), PrepareOptions::default()).unwrap()
        })
        .collect();
    let fo = FillOptions {
        weeks: 4,
        zeros_missing: flag("--zeros-missing"),
    };
    let methods: Vec<Method> = args
        .iter()
        .filter_map(|a| match a.as_str() {
            "ets" => Some(Method::Ets),
            "theta" => Some(Method::Theta),
            "mstl" => Some(Method::Mstl),
            "snaive" => Some(Method::Snaive),
            "prophet" => Some(Method::Prophet),
            "ensemble" => Some(Method::Ensemble),
            "auto" => Some(Method::Auto),
            _ => None,
        })
        .collect();
    let members: Option<Vec<Method>> = args.iter().position(|a| a == "--members").map(|i| {
        args[i + 1]
            .split(',')
            .map(|m| match m {
                "ets" => Method::Ets,
                "theta" => Method::Theta,
                "mstl" => Method::Mstl,
                "prophet" => Method::Prophet,
                _ => Method::Snaive,
            })
            .collect()
    });
    for m in methods {
        let mut p = ForecastParams {
            method: m,
            log: flag("--log"),
            ..Default::default()
        };
        if let Some(mm) = &members {
            p.members = mm.clone();
        }
        if flag("--mean") {
            p.combine = riskstream_forecast::Combine::Mean;
        }
        if flag("--box") {
            p.ets.bounds = Bounds::Box;
        }
        let t = std::time::Instant::now();
        let c0 = cpu_seconds();
        let r = backtest_all(&series, &p, 56, 1, 56, fo, &|| {});
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c0;
        let scores: Vec<_> = r.into_iter().flat_map(|x| x.unwrap()).collect();
        let s = summarize(&scores);
        println!(
            "{:<9} smape {:.3} smape_eps {:.3} mase {:.4} mae {:.3} cov80 {:.3} cov95 {:.3} secs {:.2} cpu {:.2}",
            m.name(), s.smape, s.smape_eps, s.mase, s.mae, s.coverage80, s.coverage95, secs, cpu
        );
        if let Some(o) = &out {
            let mut f = std::fs::File::create(format!("{o}.{}.csv", m.name())).unwrap();
            writeln!(
                f,
                "id,date,origin,actual,model,forecast,lo80,hi80,lo95,hi95"
            )
            .unwrap();
            for sc in &scores {
                let ser = series.iter().find(|x| x.id == sc.id).unwrap();
                let o0 = ser.values.len() - 56;
                for i in 0..56 {
                    let d = riskstream_core::time::format_micros(
                        (ser.start + (o0 + i) as i64) * 86_400_000_000,
                    );
                    let fc = &sc.forecast;
                    writeln!(
                        f,
                        "{},{},0,{},\"{}\",{},{},{},{},{}",
                        sc.id,
                        &d[..10],
                        ser.values[o0 + i],
                        sc.model,
                        fc.mean[i],
                        fc.lo80[i],
                        fc.hi80[i],
                        fc.lo95[i],
                        fc.hi95[i]
                    )
                    .unwrap();
                }
            }
        }
    }
}
