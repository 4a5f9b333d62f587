//! Online learners in river's shape: `learn_one` / `predict_proba_one`.
