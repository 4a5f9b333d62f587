//! [`SqlEngine`]: tables registered by name and path, read-only SQL over them.

use crate::error::{from_datafusion, QueryContext, SqlError};
use crate::functions::{functions, ModelCache};
use crate::load::load_text;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::execution::memory_pool::{MemoryPool, MemoryReservation};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{ParquetReadOptions, SQLOptions, SessionConfig, SessionContext};
use riskstream_core::Schema;
use riskstream_io::table::Note;
use riskstream_io::{Format, ReadStats};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default memory limit of a session: 2 GiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 2 << 30;

/// How an engine is set up.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Bytes the session may hold: tables loaded into memory plus the query's sorts,
    /// joins and aggregations. Beyond it a query fails with [`SqlError::MemoryLimit`].
    pub memory_limit: u64,
    /// Folder of the dead-letter files of CSV and NDJSON tables (`<file>.rejected.ndjson`);
    /// the current directory when `None`.
    pub dead_letter_dir: Option<PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            dead_letter_dir: None,
        }
    }
}

/// How a registered table is held.
#[derive(Debug, Clone)]
pub enum Storage {
    /// A CSV or NDJSON file read into memory by riskstream-io.
    Memory {
        /// The reader's counts (rows accepted, rejected by reason).
        stats: ReadStats,
        /// Where rejected rows went (written only if a row was rejected).
        dead_letter: PathBuf,
        /// Bytes held.
        bytes: u64,
    },
    /// Parquet files read by DataFusion as the query runs.
    Parquet,
}

/// A registered table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// The name queries use.
    pub name: String,
    /// The file or folder.
    pub path: PathBuf,
    /// How it is held.
    pub storage: Storage,
    /// What the user should hear about (a sniffed delimiter, rejected rows).
    pub notes: Vec<Note>,
}

/// A query's result: its schema (also when no row came back) and its batches.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Column names and types.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    /// Rows in the result.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// A DataFusion session with riskstream's tables and functions; read-only SQL.
pub struct SqlEngine {
    runtime: tokio::runtime::Runtime,
    ctx: SessionContext,
    pool: Arc<dyn MemoryPool>,
    cache: Arc<ModelCache>,
    tables: BTreeMap<String, TableInfo>,
    /// Memory held by the in-memory tables, returned to the pool when the engine goes.
    held: Vec<MemoryReservation>,
    options: EngineOptions,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine")
            .field("tables", &self.tables)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SqlEngine {
    /// A session with `options`' memory limit and the riskstream functions.
    pub fn new(options: EngineOptions) -> Result<Self, SqlError> {
        let limit = usize::try_from(options.memory_limit).unwrap_or(usize::MAX);
        let env = RuntimeEnvBuilder::new()
            .with_memory_limit(limit, 1.0)
            .build_arc()
            .map_err(|e| SqlError::Start(e.to_string()))?;
        let pool = env.memory_pool.clone();
        let mut config = SessionConfig::new().with_information_schema(true);
        // Names are matched as written: the files' columns are upper case (TX_AMOUNT) and
        // an analyst should not have to quote each one. Keywords and function names stay
        // case-insensitive (DataFusion lowercases function names on its own).
        config.options_mut().sql_parser.enable_ident_normalization = false;
        let ctx = SessionContext::new_with_config_rt(config, env);
        let cache = Arc::new(ModelCache::default());
        for f in functions(cache.clone()) {
            ctx.register_udf(f);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("riskstream-sql")
            .build()
            .map_err(|e| SqlError::Start(e.to_string()))?;
        Ok(Self {
            runtime,
            ctx,
            pool,
            cache,
            tables: BTreeMap::new(),
            held: Vec::new(),
            options,
        })
    }

    /// Registers the file or folder at `path` as table `name`. The format is told from the
    /// name: `.csv`, `.tsv`, `.csv.gz`, `.ndjson`, `.jsonl` (optionally `.gz`) are read into
    /// memory by riskstream-io with `schema` (or the shipped schema matching the header, or
    /// one inferred), bad rows to the dead-letter file; `.parquet` or a folder of Parquet
    /// files is read by DataFusion as queries run.
    pub fn register(
        &mut self,
        name: &str,
        path: &Path,
        schema: Option<Schema>,
    ) -> Result<&TableInfo, SqlError> {
        let refuse = |message: String, hint: &str| SqlError::Register {
            table: name.to_string(),
            path: path.to_path_buf(),
            message,
            hint: hint.to_string(),
        };
        check_name(name).map_err(|m| {
            refuse(
                m,
                "use letters, digits and underscores, starting with a letter (e.g. tx, labels_2018)",
            )
        })?;
        if self.tables.contains_key(name) {
            return Err(refuse(
                "a table of this name is already registered".into(),
                "give each --table a different name",
            ));
        }
        if !path.exists() {
            return Err(refuse(
                "no such file or folder".into(),
                "check the path (relative paths start from the current directory)",
            ));
        }
        let parquet = path.is_dir()
            || riskstream_io::FileFormat::from_path(path)
                .map_err(|e| {
                    refuse(
                        e.to_string(),
                        "name it .csv, .tsv, .csv.gz, .ndjson, .jsonl, .ndjson.gz or .parquet, or give a folder of .parquet files",
                    )
                })?
                .format
                == Format::Parquet;
        let info = if parquet {
            if schema.is_some() {
                return Err(refuse(
                    "a schema applies to CSV and NDJSON files; Parquet files carry their own types"
                        .into(),
                    "leave out --schema for this table",
                ));
            }
            self.register_parquet(name, path)?
        } else {
            let loaded = load_text(
                name,
                path,
                schema,
                self.options.dead_letter_dir.as_deref(),
                &self.pool,
                self.options.memory_limit,
            )?;
            // `bare`: a plain &str would be parsed and lower-cased, and names are matched
            // as written.
            self.ctx
                .register_table(TableReference::bare(name), loaded.table)
                .map_err(|e| refuse(e.to_string(), "give each --table a different name"))?;
            self.held.push(loaded.reservation);
            TableInfo {
                name: name.to_string(),
                path: path.to_path_buf(),
                storage: Storage::Memory {
                    stats: loaded.stats,
                    dead_letter: loaded.dead_letter,
                    bytes: loaded.bytes,
                },
                notes: loaded.notes,
            }
        };
        Ok(self.tables.entry(name.to_string()).or_insert(info))
    }

    fn register_parquet(&self, name: &str, path: &Path) -> Result<TableInfo, SqlError> {
        let refuse = |message: String, hint: &str| SqlError::Register {
            table: name.to_string(),
            path: path.to_path_buf(),
            message,
            hint: hint.to_string(),
        };
        let text = path.to_str().ok_or_else(|| {
            refuse(
                "the path is not valid UTF-8".into(),
                "rename the file or folder",
            )
        })?;
        let url = if path.is_dir() {
            if !has_parquet(path, 3) {
                return Err(refuse(
                    "the folder holds no .parquet file".into(),
                    "give a folder of .parquet files, or name one file",
                ));
            }
            // A trailing slash tells DataFusion's listing table that this is a folder.
            format!("{}/", text.trim_end_matches('/'))
        } else {
            text.to_string()
        };
        self.runtime
            .block_on(self.ctx.register_parquet(
                TableReference::bare(name),
                &url,
                ParquetReadOptions::default(),
            ))
            .map_err(|e| {
                refuse(
                    e.to_string(),
                    "check that the file is Parquet (riskstream writes it with --output x.parquet)",
                )
            })?;
        Ok(TableInfo {
            name: name.to_string(),
            path: path.to_path_buf(),
            storage: Storage::Parquet,
            notes: Vec::new(),
        })
    }

    /// The registered tables, by name.
    pub fn tables(&self) -> impl Iterator<Item = &TableInfo> {
        self.tables.values()
    }

    /// The memory limit in bytes.
    pub fn memory_limit(&self) -> u64 {
        self.options.memory_limit
    }

    /// Runs one read-only statement (`SELECT`, `WITH`, `EXPLAIN`, `SHOW`); statements that
    /// create, change or write anything are refused.
    pub fn query(&self, sql: &str) -> Result<QueryResult, SqlError> {
        // Each query loads the model files it names afresh (once each).
        self.cache.clear();
        let read_only = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let names: Vec<String> = self.tables.keys().cloned().collect();
        let q = QueryContext {
            sql,
            tables: &names,
            memory_limit: self.options.memory_limit,
        };
        let result = self.runtime.block_on(async {
            let df = self.ctx.sql_with_options(sql, read_only).await?;
            let schema = df.schema().inner().clone();
            let batches = df.collect().await?;
            Ok::<_, datafusion::error::DataFusionError>(QueryResult { schema, batches })
        });
        result.map_err(|e| from_datafusion(&e, q))
    }
}

/// A table name queries can use without quotes.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a plain SQL name"))
    }
}

/// Whether `dir` (or a folder below it, `depth` levels down) holds a `.parquet` file.
fn has_parquet(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            depth > 0 && has_parquet(&p, depth - 1)
        } else {
            p.extension().is_some_and(|x| x == "parquet")
        }
    })
}

/// A size for people (`2GiB`, `512 MiB`, `1.5GB`, `1000000`) in bytes. KB/MB/GB/TB are
/// powers of 1000, KiB/MiB/GiB/TiB of 1024; a bare number is bytes.
pub fn parse_size(s: &str) -> Result<u64, SqlError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| SqlError::BadSize(s.to_string()))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(SqlError::BadSize(s.to_string())),
    };
    let bytes = (value * factor).round();
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(SqlError::BadSize(s.to_string()));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_both_unit_systems() {
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        for bad in ["", "GiB", "2 parsecs", "-1", "0"] {
            assert!(parse_size(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn table_names_must_be_plain() {
        assert!(check_name("tx").is_ok());
        assert!(check_name("labels_2018").is_ok());
        for bad in ["", "2tx", "a-b", "a b", "x;drop"] {
            assert!(check_name(bad).is_err(), "{bad} accepted");
        }
    }
}
