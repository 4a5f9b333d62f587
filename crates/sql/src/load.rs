//! CSV and NDJSON files through riskstream-io's readers, into memory.
//!
//! Why not DataFusion's own CSV reader: ours applies a riskstream schema (types, required
//! fields, ranges, categories, personal-data treatments) and sets a bad row aside in the
//! dead-letter file with its reason instead of failing the query or guessing a type, so
//! `riskstream sql` sees a file exactly as `train`, `score` and the pipelines do. The
//! reader gives Arrow batches, which become a [`MemTable`]: the file is held in memory for
//! the engine's life (counted against its memory limit; Parquet is streamed instead).

use crate::error::SqlError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use riskstream_core::Schema;
use riskstream_io::table::{default_dead_letter, file_format, resolve_schema, Note};
use riskstream_io::{EventReader, LazyDeadLetterWriter, ReadOptions, ReadStats};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A text file read into memory.
pub(crate) struct Loaded {
    pub table: Arc<MemTable>,
    pub stats: ReadStats,
    pub dead_letter: PathBuf,
    pub notes: Vec<Note>,
    pub bytes: u64,
    pub reservation: MemoryReservation,
}

/// Reads `path` (CSV, gzip CSV, NDJSON) with `schema`, or the shipped schema matching its
/// header, or one inferred from its first rows. Rejected rows go to `dead_letter_dir`
/// (or the current directory) as `<file name>.rejected.ndjson`.
pub(crate) fn load_text(
    name: &str,
    path: &Path,
    schema: Option<Schema>,
    dead_letter_dir: Option<&Path>,
    pool: &Arc<dyn MemoryPool>,
    limit: u64,
) -> Result<Loaded, SqlError> {
    let read = |source| SqlError::Read {
        table: name.to_string(),
        source,
    };
    let mut notes = Vec::new();
    let ff = file_format(path, None, None, &mut |n| notes.push(n)).map_err(read)?;
    let schema = match schema {
        Some(s) => s,
        None => resolve_schema(None, path, ff).map_err(read)?.0,
    };
    let dead_letter = match dead_letter_dir {
        Some(dir) => dir.join(default_dead_letter(path)),
        None => default_dead_letter(path),
    };
    let opts = ReadOptions {
        format: Some(ff),
        ..Default::default()
    };
    let mut reader = EventReader::open(
        path,
        &schema,
        &opts,
        Box::new(LazyDeadLetterWriter::new(&dead_letter)),
    )
    .map_err(read)?;
    let arrow_schema = reader.arrow_schema();
    let reservation = MemoryConsumer::new(format!("table {name}")).register(pool);
    let mut batches: Vec<RecordBatch> = Vec::new();
    for batch in reader.by_ref() {
        let batch = batch.map_err(read)?;
        // Counted as it comes, so a file too big for the limit stops early.
        reservation
            .try_grow(batch.get_array_memory_size())
            .map_err(|e| SqlError::MemoryLimit {
                limit,
                what: format!("loading table `{name}` from {}", path.display()),
                message: e.to_string(),
            })?;
        batches.push(batch);
    }
    let stats = reader.finish().map_err(read)?;
    if stats.rejected > 0 {
        notes.push(Note::Rejected {
            path: path.to_path_buf(),
            rejected: stats.rejected,
            rows_read: stats.rows_read,
            dead_letter: dead_letter.clone(),
        });
    }
    if let Some(e) = &stats.input_error {
        notes.push(Note::InputError(e.clone()));
    }
    // One partition keeps the file's row order for queries without ORDER BY; DataFusion
    // repartitions where parallelism pays (aggregations, joins).
    let table = MemTable::try_new(arrow_schema, vec![batches]).map_err(|e| SqlError::Query {
        message: format!("table `{name}`: {e}"),
        class: riskstream_core::ErrorClass::Internal,
    })?;
    Ok(Loaded {
        table: Arc::new(table),
        stats,
        dead_letter,
        notes,
        bytes: reservation.size() as u64,
        reservation,
    })
}
