//! The crate's one error type, and the translation of DataFusion's errors into it.
//!
//! DataFusion's errors are written for DataFusion's developers (`Schema error: No field
//! named tx_amount. Valid fields are tx."TX_AMOUNT", …`); an analyst wants to hear where
//! the mistake is and what to write instead. `from_datafusion` picks out the three
//! mistakes people make most (bad syntax, a table that is not registered, a column that is
//! not there) and says them our way: the position with the line and a caret, the
//! registered tables, the table's columns with the closest one. Everything else keeps
//! DataFusion's message and gets a class (user / external / internal) by its kind.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use riskstream_core::diag::did_you_mean;
use riskstream_core::{Classify, ErrorClass};
use std::path::PathBuf;

/// What went wrong with a registration or a query.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The SQL text does not parse.
    #[error(
        "SQL syntax error at line {line}, column {column}: {message}\n{excerpt}\nhint: {hint}"
    )]
    Syntax {
        /// The parser's message, without its position.
        message: String,
        /// 1-based line of the mistake.
        line: usize,
        /// 1-based column of the mistake.
        column: usize,
        /// The line of SQL with a caret under the column.
        excerpt: String,
        /// How to fix it.
        hint: String,
    },
    /// The query names a table that was not registered.
    #[error(
        "unknown table `{name}`; registered tables: {}{}",
        list(registered),
        hint(suggestion)
    )]
    UnknownTable {
        /// The name as written.
        name: String,
        /// Every registered table.
        registered: Vec<String>,
        /// "did you mean `x`?" with the closest registered name.
        suggestion: Option<String>,
    },
    /// The query names a column that none of its tables has.
    #[error(
        "unknown column `{name}`; the columns are: {}{}",
        list(columns),
        hint(suggestion)
    )]
    UnknownColumn {
        /// The column as written (with its qualifier, if one was written).
        name: String,
        /// Every column in scope, qualified by its table.
        columns: Vec<String>,
        /// "did you mean `x`?" with the closest column.
        suggestion: Option<String>,
    },
    /// A riskstream SQL function was called wrongly (arguments, types).
    #[error("{function}: {message}")]
    Function {
        /// The function's name.
        function: &'static str,
        /// What is wrong and how to call it.
        message: String,
    },
    /// A model file named in a query cannot be used.
    #[error("model file {path}: {message}")]
    Model {
        /// The path as written in the query.
        path: String,
        /// Why (the model crate's message).
        message: String,
        /// Whose fault (the model crate's class).
        class: ErrorClass,
    },
    /// A table cannot be registered (bad name, unknown format, missing path).
    #[error("table `{table}` ({}): {message} (hint: {hint})", path.display())]
    Register {
        /// The table name.
        table: String,
        /// The path given.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// Reading a CSV or NDJSON file failed as a whole (rows are dead letters, not errors).
    #[error("table `{table}`: {source}")]
    Read {
        /// The table name.
        table: String,
        /// The reader's error.
        source: riskstream_io::IoError,
    },
    /// The session's memory limit was reached.
    #[error("memory limit of {} reached {what}: {message} (hint: raise --memory-limit, or filter and aggregate earlier in the query)", bytes_text(*limit))]
    MemoryLimit {
        /// The limit in bytes.
        limit: u64,
        /// Where (loading a table, running the query).
        what: String,
        /// DataFusion's message.
        message: String,
    },
    /// A memory limit that does not parse (`2GiB`, `512MB`, `1000000`).
    #[error(
        "memory limit `{0}` is not a size; write e.g. 2GiB, 512MiB, 1.5GB or a number of bytes"
    )]
    BadSize(String),
    /// Any other failure of the query, with DataFusion's message.
    #[error("query failed: {message}")]
    Query {
        /// The message.
        message: String,
        /// Whose fault.
        class: ErrorClass,
    },
    /// Writing the result failed.
    #[error("writing the result: {0}")]
    Output(#[source] riskstream_io::IoError),
    /// The engine could not start (threads).
    #[error("cannot start the SQL engine: {0}")]
    Start(String),
}

impl Classify for SqlError {
    fn class(&self) -> ErrorClass {
        match self {
            SqlError::Syntax { .. }
            | SqlError::UnknownTable { .. }
            | SqlError::UnknownColumn { .. }
            | SqlError::Function { .. }
            | SqlError::Register { .. }
            | SqlError::MemoryLimit { .. }
            | SqlError::BadSize(_) => ErrorClass::User,
            SqlError::Model { class, .. } | SqlError::Query { class, .. } => *class,
            SqlError::Read { source, .. } | SqlError::Output(source) => source.class(),
            SqlError::Start(_) => ErrorClass::External,
        }
    }
}

impl SqlError {
    /// A copy of the errors our SQL functions raise inside DataFusion (which hands them
    /// back behind shared pointers); `None` for the others, which never travel that way.
    fn copy_of_function_error(&self) -> Option<SqlError> {
        match self {
            SqlError::Function { function, message } => Some(SqlError::Function {
                function,
                message: message.clone(),
            }),
            SqlError::Model {
                path,
                message,
                class,
            } => Some(SqlError::Model {
                path: path.clone(),
                message: message.clone(),
                class: *class,
            }),
            _ => None,
        }
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn hint(s: &Option<String>) -> String {
    s.as_ref().map(|s| format!(" ({s})")).unwrap_or_default()
}

/// Bytes for people: `2 GiB`, `512 MiB`, `1000 B`.
pub fn bytes_text(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if unit == "B" {
        format!("{b} B")
    } else {
        format!("{} {unit}", (v * 10.0).round() / 10.0)
    }
}

/// What the query knew when it failed: its text and the registered tables.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryContext<'a> {
    pub sql: &'a str,
    pub tables: &'a [String],
    pub memory_limit: u64,
}

/// DataFusion's error said our way (see the module docs).
pub(crate) fn from_datafusion(e: &DataFusionError, q: QueryContext<'_>) -> SqlError {
    let e = innermost(e);
    if let Some(ours) = our_error(e) {
        return ours;
    }
    match e {
        DataFusionError::SQL(p, _) => syntax(&p.to_string(), q.sql),
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            datafusion::common::SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => {
                let columns: Vec<String> = valid_fields.iter().map(|c| c.flat_name()).collect();
                let name = field.flat_name();
                let suggestion =
                    did_you_mean(&name, columns.iter().map(String::as_str)).or_else(|| {
                        // `tx_amount` for `TX_AMOUNT`: names are matched as written.
                        columns
                            .iter()
                            .find(|c| {
                                c.rsplit('.').next().map(str::to_ascii_lowercase)
                                    == Some(field.name.to_ascii_lowercase())
                            })
                            .map(|c| format!("did you mean `{c}`?"))
                    });
                SqlError::UnknownColumn {
                    name,
                    columns,
                    suggestion,
                }
            }
            other => query(other.to_string(), ErrorClass::User),
        },
        DataFusionError::Plan(m) => match unknown_table(m) {
            Some(name) => {
                let suggestion = did_you_mean(&name, q.tables.iter().map(String::as_str));
                SqlError::UnknownTable {
                    name,
                    registered: q.tables.to_vec(),
                    suggestion,
                }
            }
            None => query(m.clone(), ErrorClass::User),
        },
        DataFusionError::ResourcesExhausted(m) => SqlError::MemoryLimit {
            limit: q.memory_limit,
            what: "running the query".into(),
            message: m.clone(),
        },
        DataFusionError::NotImplemented(m)
        | DataFusionError::Configuration(m)
        | DataFusionError::Execution(m) => query(m.clone(), ErrorClass::User),
        DataFusionError::ArrowError(a, _) => query(a.to_string(), ErrorClass::User),
        DataFusionError::ParquetError(p) => query(p.to_string(), ErrorClass::User),
        DataFusionError::IoError(io) => {
            use std::io::ErrorKind as K;
            let class = match io.kind() {
                K::NotFound | K::PermissionDenied | K::InvalidData => ErrorClass::User,
                _ => ErrorClass::External,
            };
            query(io.to_string(), class)
        }
        DataFusionError::ObjectStore(o) => query(o.to_string(), ErrorClass::External),
        other => query(other.to_string(), ErrorClass::Internal),
    }
}

fn query(message: String, class: ErrorClass) -> SqlError {
    SqlError::Query { message, class }
}

/// The error under DataFusion's wrappers (context, diagnostics, shared, external).
fn innermost(e: &DataFusionError) -> &DataFusionError {
    match e {
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            innermost(inner)
        }
        DataFusionError::Shared(inner) => innermost(inner),
        DataFusionError::Collection(all) => all.first().map_or(e, innermost),
        DataFusionError::External(b) => b.downcast_ref::<DataFusionError>().map_or(e, innermost),
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            ArrowError::ExternalError(b) => {
                b.downcast_ref::<DataFusionError>().map_or(e, innermost)
            }
            _ => e,
        },
        _ => e,
    }
}

/// An error one of our SQL functions raised.
fn our_error(e: &DataFusionError) -> Option<SqlError> {
    let boxed: &(dyn std::error::Error + Send + Sync) = match e {
        DataFusionError::External(b) => b.as_ref(),
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            ArrowError::ExternalError(b) => b.as_ref(),
            _ => return None,
        },
        _ => return None,
    };
    boxed
        .downcast_ref::<SqlError>()
        .and_then(SqlError::copy_of_function_error)
}

/// The table name in DataFusion's "table 'datafusion.public.x' not found".
fn unknown_table(m: &str) -> Option<String> {
    let rest = m.strip_prefix("table '")?;
    let name = rest.strip_suffix("' not found")?;
    let name = name
        .strip_prefix("datafusion.public.")
        .or_else(|| name.strip_prefix("public."))
        .unwrap_or(name);
    Some(name.to_string())
}

/// A parser message (`Expected: …, found: FROM at Line: 1, Column: 15`) as a
/// [`SqlError::Syntax`] with the line of SQL and a caret.
pub(crate) fn syntax(message: &str, sql: &str) -> SqlError {
    let message = message
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_end_matches("\")")
        .trim_start_matches("sql parser error: ")
        .to_string();
    let (text, line, column) = match position(&message) {
        Some((at, line, column)) => (message[..at].trim_end().to_string(), line, column),
        None => {
            // No position given (e.g. the input ended early): point at the end.
            let line = sql.lines().count().max(1);
            let column = sql.lines().last().map_or(0, |l| l.chars().count()) + 1;
            (message.clone(), line, column)
        }
    };
    let source_line = sql.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let excerpt = format!(
        "  {source_line}\n  {}^",
        " ".repeat(column.saturating_sub(1))
    );
    SqlError::Syntax {
        message: text,
        line,
        column,
        excerpt,
        hint: "check the SQL just before the caret; text values take single quotes ('x'), \
               names with spaces or keywords take double quotes (\"x\"), and one statement \
               is allowed"
            .into(),
    }
}

/// Where `at Line: L, Column: C` starts in a parser message, with L and C.
fn position(m: &str) -> Option<(usize, usize, usize)> {
    let at = m.rfind(" at Line: ")?;
    let rest = &m[at + " at Line: ".len()..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((at, line.trim().parse().ok()?, column.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parser_position_becomes_line_column_and_caret() {
        let sql = "SELECT a\nFROM t WHERE";
        let e = syntax(
            "sql parser error: Expected: an expression, found: EOF at Line: 2, Column: 13",
            sql,
        );
        match e {
            SqlError::Syntax {
                line,
                column,
                excerpt,
                message,
                ..
            } => {
                assert_eq!((line, column), (2, 13));
                assert_eq!(message, "Expected: an expression, found: EOF");
                assert_eq!(excerpt, "  FROM t WHERE\n              ^");
            }
            other => panic!("not a syntax error: {other}"),
        }
    }

    #[test]
    fn sizes_are_said_in_binary_units() {
        assert_eq!(bytes_text(2 << 30), "2 GiB");
        assert_eq!(bytes_text(1536), "1.5 KiB");
        assert_eq!(bytes_text(10), "10 B");
    }

    #[test]
    fn the_unknown_table_name_is_taken_from_datafusions_message() {
        assert_eq!(
            unknown_table("table 'datafusion.public.txx' not found").as_deref(),
            Some("txx")
        );
        assert_eq!(unknown_table("something else"), None);
    }
}
