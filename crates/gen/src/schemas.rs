//! The schemas of the generated files, shipped as TOML next to the data.
//!
//! `transactions` uses the engine's built-in `riskstream-bank-transactions` schema; the
//! others are embedded from `crates/gen/schemas/*.toml`. `generate` writes each of them to
//! `<file>.schema.toml` in the output directory, so the data describes itself.

use riskstream_core::Schema;

/// File stems, in the order they are written.
pub const FILES: [&str; 7] = [
    "transactions",
    "labels",
    "customers",
    "terminals",
    "loans",
    "products",
    "volumes",
];

/// Files written only when their switch is on: `complaints` with
/// [`crate::GenConfig::complaints`].
pub const OPTIONAL_FILES: [&str; 1] = ["complaints"];

const EMBEDDED: [(&str, &str); 7] = [
    ("labels", include_str!("../schemas/labels.toml")),
    ("customers", include_str!("../schemas/customers.toml")),
    ("terminals", include_str!("../schemas/terminals.toml")),
    ("loans", include_str!("../schemas/loans.toml")),
    ("products", include_str!("../schemas/products.toml")),
    ("volumes", include_str!("../schemas/volumes.toml")),
    ("complaints", include_str!("../schemas/complaints.toml")),
];

/// The TOML text of the schema of output file `file` (a stem from [`FILES`]).
pub fn schema_text(file: &str) -> Option<&'static str> {
    if file == "transactions" {
        return riskstream_core::schema::BUILTIN
            .iter()
            .find(|(n, _)| *n == "riskstream-bank-transactions")
            .map(|(_, t)| *t);
    }
    EMBEDDED.iter().find(|(n, _)| *n == file).map(|(_, t)| *t)
}

/// The parsed schema of output file `file`.
pub fn schema(file: &str) -> Option<Schema> {
    let text = schema_text(file)?;
    Schema::from_toml_str(text, &format!("<riskstream-gen {file}.schema.toml>")).ok()
}

/// `s` without its `pii` fields (the layout of a file generated without personal data).
pub fn without_pii(s: &Schema) -> Schema {
    let keep: Vec<usize> = (0..s.fields.len())
        .filter(|&i| s.fields[i].pii.is_none())
        .collect();
    let new = |i: usize| keep.iter().position(|&k| k == i);
    Schema {
        name: s.name.clone(),
        description: s.description.clone(),
        fields: keep.iter().map(|&i| s.fields[i].clone()).collect(),
        id: s.id.and_then(new),
        event_time: s.event_time.and_then(new),
        entities: s.entities.iter().filter_map(|&i| new(i)).collect(),
        labels: s.labels.iter().filter_map(|&i| new(i)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_parses() {
        for f in FILES.iter().chain(&OPTIONAL_FILES) {
            let text = schema_text(f).unwrap();
            Schema::from_toml_str(text, f).unwrap_or_else(|d| panic!("{d}"));
        }
    }
}
