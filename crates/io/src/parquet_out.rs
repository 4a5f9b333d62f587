//! Parquet output whose columns are encoded by several threads at once.
//!
//! Why: encoding and zstd-compressing the feature table costs about as much CPU as reading
//! the input, and at the end of a replay the write thread is the only one left with work:
//! one core idles while it drains its queue. Parquet column chunks are independent of one
//! another, so each batch's columns are shared out among a few scoped threads, each taking
//! the next column when it finishes one (a cheap integer column does not hold up an
//! expensive float column). Closing a row group (the last page of each column, its
//! dictionary page) is shared out the same way. The chunks are then appended in schema
//! order, so the file is byte for byte the one [`ArrowWriter`] writes from the same batches
//! and properties; a test compares them.
//!
//! The writer honours the row-count limit of a row group (the only limit riskstream sets),
//! splitting a batch where a row group fills, as [`ArrowWriter`] does.

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::io::Write;
use std::sync::Mutex;

/// Batches with fewer rows are encoded on the calling thread alone: starting threads would
/// cost more than it saves.
const PARALLEL_MIN_ROWS: usize = 8_192;

/// One top-level field's column writers (several for a nested field), or, once the row
/// group is closed, its finished chunks.
#[derive(Default)]
struct FieldSlot {
    writers: Vec<ArrowColumnWriter>,
    chunks: Vec<ArrowColumnChunk>,
}

/// A Parquet file written from Arrow batches, columns encoded in parallel.
pub(crate) struct ParquetOut<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Parquet leaf columns per top-level field.
    leaves: Vec<usize>,
    /// The open row group, one slot per top-level field.
    open: Option<Vec<Mutex<FieldSlot>>>,
    /// Rows in the open row group.
    buffered: usize,
    max_rows: usize,
    threads: usize,
}

impl<W: Write + Send> ParquetOut<W> {
    /// Starts the file: the same schema conversion, metadata and properties as
    /// [`ArrowWriter::try_new`]. `threads` (at least 1) encode each large batch.
    pub(crate) fn try_new(
        out: W,
        schema: SchemaRef,
        props: WriterProperties,
        threads: usize,
    ) -> Result<Self> {
        if props.max_row_group_bytes().is_some() {
            return Err(ParquetError::General(
                "a row-group byte limit is not supported here; set a row count".into(),
            ));
        }
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        let (file, factory) =
            ArrowWriter::try_new(out, schema.clone(), Some(props))?.into_serialized_writer()?;
        let mut leaves = vec![0; schema.fields().len()];
        let d = file.schema_descr();
        for i in 0..d.num_columns() {
            if let Some(n) = leaves.get_mut(d.get_column_root_idx(i)) {
                *n += 1;
            }
        }
        Ok(Self {
            file,
            factory,
            schema,
            leaves,
            open: None,
            buffered: 0,
            max_rows,
            threads: threads.max(1),
        })
    }

    /// Appends one batch, given as consecutive pieces of the writer's schema: each column
    /// is joined from its pieces on the thread that encodes it.
    pub(crate) fn write(&mut self, pieces: &[RecordBatch]) -> Result<()> {
        let mut rest: Vec<RecordBatch> = pieces
            .iter()
            .filter(|b| b.num_rows() > 0)
            .cloned()
            .collect();
        while !rest.is_empty() {
            let rows: usize = rest.iter().map(RecordBatch::num_rows).sum();
            let room = self.max_rows - self.buffered;
            let now = if rows > room {
                let later = crate::split_rows(&mut rest, room);
                std::mem::replace(&mut rest, later)
            } else {
                std::mem::take(&mut rest)
            };
            self.encode(&now)?;
            if self.buffered >= self.max_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Closes the file (the open row group first) and returns the rows written.
    pub(crate) fn close(mut self) -> Result<i64> {
        self.flush()?;
        Ok(self.file.close()?.file_metadata().num_rows())
    }

    fn encode(&mut self, pieces: &[RecordBatch]) -> Result<()> {
        let rows: usize = pieces.iter().map(RecordBatch::num_rows).sum();
        if self.open.is_none() {
            let mut writers = self
                .factory
                .create_column_writers(self.file.flushed_row_groups().len())?
                .into_iter();
            let slots = self
                .leaves
                .iter()
                .map(|&n| {
                    Mutex::new(FieldSlot {
                        writers: writers.by_ref().take(n).collect(),
                        chunks: Vec::new(),
                    })
                })
                .collect();
            self.open = Some(slots);
        }
        let Some(open) = self.open.as_ref() else {
            return Ok(());
        };
        let schema = &self.schema;
        let threads = if rows >= PARALLEL_MIN_ROWS {
            self.threads
        } else {
            1
        };
        shared_out(open.len(), threads, |f| {
            let field = schema.field(f);
            let column: ArrayRef = match pieces {
                [one] => one.column(f).clone(),
                _ => {
                    let parts: Vec<&dyn Array> =
                        pieces.iter().map(|b| b.column(f).as_ref()).collect();
                    arrow_select::concat::concat(&parts)?
                }
            };
            let mut slot = lock(&open[f])?;
            let mut writers = slot.writers.iter_mut();
            for leaf in compute_leaves(field, &column)? {
                match writers.next() {
                    Some(w) => w.write(&leaf)?,
                    None => {
                        return Err(ParquetError::General(format!(
                            "column `{}` has more Parquet leaves than its writers",
                            field.name()
                        )))
                    }
                }
            }
            Ok(())
        })?;
        self.buffered += rows;
        Ok(())
    }

    /// Closes the open row group: every column's last pages in parallel, then the chunks
    /// appended to the file in schema order.
    fn flush(&mut self) -> Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        shared_out(open.len(), self.threads, |f| {
            let mut slot = lock(&open[f])?;
            let writers = std::mem::take(&mut slot.writers);
            slot.chunks = writers
                .into_iter()
                .map(ArrowColumnWriter::close)
                .collect::<Result<_>>()?;
            Ok(())
        })?;
        let mut rg = self.file.next_row_group()?;
        for slot in open {
            let slot = slot
                .into_inner()
                .map_err(|_| ParquetError::General("an encoding thread panicked".into()))?;
            for chunk in slot.chunks {
                chunk.append_to_row_group(&mut rg)?;
            }
        }
        rg.close()?;
        self.buffered = 0;
        Ok(())
    }
}

fn lock(m: &Mutex<FieldSlot>) -> Result<std::sync::MutexGuard<'_, FieldSlot>> {
    m.lock()
        .map_err(|_| ParquetError::General("an encoding thread panicked".into()))
}

/// Runs `task(0..n)` on up to `threads` threads (the caller's among them), each taking the
/// next index as it finishes one; returns the first error. A helper thread that cannot be
/// started leaves its share to the others.
fn shared_out<F>(n: usize, threads: usize, task: F) -> Result<()>
where
    F: Fn(usize) -> Result<()> + Sync,
{
    let failed: Mutex<Option<ParquetError>> = Mutex::new(None);
    crate::on_threads(n, threads, "riskstream-encode", |i| match task(i) {
        Ok(()) => true,
        Err(e) => {
            if let Ok(mut f) = failed.lock() {
                f.get_or_insert(e);
            }
            false
        }
    });
    match failed.into_inner() {
        Ok(None) => Ok(()),
        Ok(Some(e)) => Err(e),
        Err(_) => Err(ParquetError::General("an encoding thread panicked".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(schema: &SchemaRef, from: i64, rows: usize) -> RecordBatch {
        let ids: Vec<i64> = (from..from + rows as i64).collect();
        let xs: Vec<f64> = ids
            .iter()
            .map(|&i| ((i * 7919) % 1013) as f64 / 7.0)
            .collect();
        let names: Vec<Option<String>> = ids
            .iter()
            .map(|&i| (i % 5 != 0).then(|| format!("n{}", i % 37)))
            .collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(Float64Array::from(xs)),
                Arc::new(StringArray::from(names)),
            ],
        )
        .unwrap()
    }

    /// Batches cut at odd places, several row groups, one and three threads: always the
    /// bytes `ArrowWriter` writes from the joined batches.
    #[test]
    fn writes_the_bytes_arrow_writer_writes() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("x", DataType::Float64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let props = || {
            WriterProperties::builder()
                .set_max_row_group_row_count(Some(25_000))
                .set_data_page_row_count_limit(3_000)
                .build()
        };
        // Chunks of 20,000 rows, each given as three pieces.
        let chunks: Vec<Vec<RecordBatch>> = (0..4)
            .map(|c| {
                let b = batch(&schema, c * 20_000, 20_000);
                vec![b.slice(0, 1), b.slice(1, 12_345), b.slice(12_346, 7_654)]
            })
            .collect();
        let mut expected = Vec::new();
        let mut w = ArrowWriter::try_new(&mut expected, schema.clone(), Some(props())).unwrap();
        for c in &chunks {
            w.write(&arrow_select::concat::concat_batches(&schema, c).unwrap())
                .unwrap();
        }
        w.close().unwrap();
        for threads in [1, 3] {
            let mut got = Vec::new();
            let mut p = ParquetOut::try_new(&mut got, schema.clone(), props(), threads).unwrap();
            for c in &chunks {
                p.write(c).unwrap();
            }
            assert_eq!(p.close().unwrap(), 80_000);
            assert!(got == expected, "{threads} thread(s): the files differ");
        }
    }

    #[test]
    fn a_file_with_no_rows_is_still_a_parquet_file() {
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let mut expected = Vec::new();
        ArrowWriter::try_new(&mut expected, schema.clone(), None)
            .unwrap()
            .close()
            .unwrap();
        let mut got = Vec::new();
        let p = ParquetOut::try_new(&mut got, schema, WriterProperties::default(), 2).unwrap();
        assert_eq!(p.close().unwrap(), 0);
        assert_eq!(got, expected);
    }
}
