//! Layer 1: getting events in and out, on Arrow, without losing or hiding a row.
//!
//! ```text
//!  file (CSV/.gz, NDJSON/.gz, Parquet)
//!     │ lines / row groups
//!     ▼
//!  decode ──▶ cells ──▶ RowAssembler (types, required, ranges, categories, unique ids)
//!     │                      │ ok                         │ rejected
//!     │                      ▼                            ▼
//!     │              Arrow RecordBatch (bounded)     DeadLetters (NDJSON: line, field,
//!     │                                               reason, original text) + counts
//!     └── ReadStats: rows_read = accepted + rejected, always
//! ```
//!
//! Why our own row loop instead of `arrow-csv`'s reader: Arrow's readers fail a whole batch
//! on one bad value. A bank's feed must keep the good rows, set the bad ones aside with the
//! reason and the original text, and account for every line. Text is split into fields by
//! `csv-core` (one physical line is one record, so a broken quote cannot swallow the rest of
//! the file); the values are then checked against the [`Schema`](riskstream_core::Schema)
//! and appended to Arrow builders. Fields the schema marks `pii` are treated right there
//! (token, mask or null) and in the dead letters' raw text too, so no output of a reader
//! holds such a value in clear. Files larger than memory stream: only one batch (default
//! 64 Ki rows) is held at a time.

pub mod background;
pub mod deadletter;
pub mod error;
pub mod format;
pub mod infer;
pub mod json_row;
pub mod parquet_crypt;
mod parquet_out;
mod pii_raw;
pub mod profile;
pub mod quality;
pub mod reader;
mod rows;
pub mod table;
pub mod types;
pub mod writer;

pub use background::{BackgroundWriter, PrefetchReader};
pub use deadletter::{
    DeadLetterSink, DeadLetterWriter, DiscardDeadLetters, FirstRejections, LazyDeadLetterWriter,
    MemoryDeadLetters, Reason, Rejection,
};
pub use error::{IoError, Result};
pub use format::{FileFormat, Format};
pub use reader::{EventReader, ReadOptions, ReadStats};
pub use types::{arrow_schema, arrow_type};
pub use writer::ParquetCompression;
pub use writer::{default_threads, BatchWriter, WriteOptions};

/// Splits consecutive `pieces` of one table after `n` rows: keeps the first `n` rows in
/// `pieces` (slicing the batch that crosses the cut, no copy) and returns the rest.
pub fn split_rows(
    pieces: &mut Vec<arrow_array::RecordBatch>,
    mut n: usize,
) -> Vec<arrow_array::RecordBatch> {
    let mut later = Vec::new();
    let mut keep = Vec::new();
    for b in pieces.drain(..) {
        if n == 0 {
            later.push(b);
        } else if b.num_rows() <= n {
            n -= b.num_rows();
            keep.push(b);
        } else {
            keep.push(b.slice(0, n));
            later.push(b.slice(n, b.num_rows() - n));
            n = 0;
        }
    }
    *pieces = keep;
    later
}

/// Runs `task(i)` for each `i` in `0..n` on up to `threads` scoped threads named `name`, the
/// caller's among them. Each thread takes the next index as it finishes one, so one slow
/// task does not hold up the rest; a task that returns `false` stops the handing out. A
/// helper thread that cannot be started leaves its share to the others.
pub fn on_threads(n: usize, threads: usize, name: &str, task: impl Fn(usize) -> bool + Sync) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= n {
            break;
        }
        if !task(i) {
            next.store(n, Ordering::Relaxed);
            break;
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.min(n) {
            let _ = std::thread::Builder::new()
                .name(name.into())
                .spawn_scoped(s, work);
        }
        work();
    });
}
