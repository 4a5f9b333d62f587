//! Property tests: the dense solver, the sparse layouts and the metrics on random input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use proptest::prelude::*;
use riskstream_recommend::linalg::{cholesky, cholesky_solve, matvec};
use riskstream_recommend::metrics::user_terms;
use riskstream_recommend::{Interactions, TopOptions, Who};
use std::collections::HashSet;

proptest! {
    #[test]
    fn cholesky_solves_any_well_conditioned_system(
        n in 1usize..12,
        seed in proptest::collection::vec(-1.0f64..1.0, 144),
        x in proptest::collection::vec(-10.0f64..10.0, 12),
    ) {
        // A = B Bᵀ + n I is symmetric positive definite.
        let b: Vec<f64> = seed[..n * n].to_vec();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>()
                    + if i == j { n as f64 } else { 0.0 };
            }
        }
        let mut rhs = vec![0.0; n];
        matvec(&a, n, &x[..n], &mut rhs);
        let mut l = a.clone();
        prop_assert!(cholesky(&mut l, n));
        cholesky_solve(&l, n, &mut rhs);
        for (got, want) in rhs.iter().zip(&x[..n]) {
            prop_assert!((got - want).abs() < 1e-8);
        }
    }

    #[test]
    fn rows_and_columns_hold_the_same_cells(
        cells in proptest::collection::btree_map((0u32..20, 0u32..15), 0.0f64..5.0, 1..100),
    ) {
        let t: Vec<(u32, u32, f64)> = cells.iter().map(|(&(u, i), &v)| (u, i, v)).collect();
        let m = Interactions::from_triples(20, 15, &t).unwrap();
        prop_assert_eq!(m.nnz(), t.len());
        prop_assert_eq!(m.by_item.transpose(20), m.by_user.clone());
        prop_assert!(m.by_user.validate(20, 15).is_ok());
    }

    #[test]
    fn ranking_terms_lie_in_the_unit_interval(
        list in proptest::collection::vec(0u32..30, 0..15),
        rel in proptest::collection::hash_set(0u32..30, 1..10),
        k in 1usize..15,
    ) {
        let mut seen = HashSet::new();
        let list: Vec<u32> = list.into_iter().filter(|i| seen.insert(*i)).collect();
        let (p, r, n, a) = user_terms(&list, &rel, k);
        for v in [p, r, n, a] {
            prop_assert!((0.0..=1.0 + 1e-12).contains(&v), "{v}");
        }
    }

    #[test]
    fn popularity_lists_never_repeat_or_offer_held_items(
        cells in proptest::collection::btree_set((0u32..10, 0u32..8), 1..60),
        k in 1usize..10,
    ) {
        let t: Vec<(u32, u32, f64)> = cells.iter().map(|&(u, i)| (u, i, 1.0)).collect();
        let m = Interactions::from_triples(10, 8, &t).unwrap();
        let users = riskstream_recommend::IdMap::from_ids((0..10).map(|u| u.to_string()));
        let items = riskstream_recommend::IdMap::from_ids((0..8).map(|i| format!("p{i}")));
        let r = riskstream_recommend::Params::Popularity
            .fit(users, items, &m, None, None, &mut riskstream_recommend::no_progress)
            .unwrap();
        for u in 0..10u32 {
            let l = r.top(Who::Known(u), &TopOptions { k, ..TopOptions::default() }).unwrap();
            let held = r.user_history(u).0;
            let ids: HashSet<u32> = l.items.iter().map(|x| x.item).collect();
            prop_assert_eq!(ids.len(), l.items.len());
            prop_assert!(l.items.iter().all(|x| !held.contains(&x.item)));
            prop_assert!(l.items.len() <= k);
        }
    }
}
