//! `riskstream_score` and `riskstream_reasons`: a model file scoring rows inside SQL.
//!
//! ```sql
//! SELECT "TRANSACTION_ID",
//!        riskstream_score('fraud.model.json', "TX_AMOUNT", "TX_TIME_SECONDS") AS score,
//!        riskstream_reasons('fraud.model.json', "TX_AMOUNT", "TX_TIME_SECONDS") AS reasons
//! FROM tx ORDER BY score DESC LIMIT 20
//! ```
//!
//! Why a function and not a table: the analyst chooses the rows (filters, joins, a sample)
//! and the columns in SQL, and the score lands next to them, ready to aggregate. The
//! columns are the model's features in the model card's order: the call is checked when
//! the query is planned (count and types), so a wrong call fails before any row is read,
//! with the features the model expects in the message.
//!
//! The numbers are those of `riskstream score`, bit for bit: the same conversion (every
//! numeric or boolean type cast to `f64`, null as NaN, as `riskstream_io::table` reads a
//! file), the same [`AnyModel::predict_proba`] and the same reason codes
//! (`feature=value (+contribution)`, the top 3 positive contributions, joined by `; `).
//!
//! A model file is loaded once per query: the engine empties the [`ModelCache`] before
//! each query, so a retrained file is picked up by the next one.

use crate::error::SqlError;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use riskstream_learn::data::Matrix;
use riskstream_learn::model::{AnyModel, ModelFile};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Reason codes per row in `riskstream_reasons`, as `riskstream score` writes by default.
pub const REASONS: usize = 3;

/// Model files loaded during one query, by the path written in the query.
#[derive(Debug, Default)]
pub struct ModelCache {
    loaded: Mutex<HashMap<String, Arc<ModelFile>>>,
}

impl ModelCache {
    /// The model file at `path`, loaded on first use.
    pub fn get(&self, path: &str) -> Result<Arc<ModelFile>, SqlError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = loaded.get(path) {
            return Ok(m.clone());
        }
        if !std::path::Path::new(path).is_file() {
            return Err(SqlError::Model {
                path: path.to_string(),
                message: "no such file (a relative path starts from the current directory)".into(),
                class: riskstream_core::ErrorClass::User,
            });
        }
        let file = ModelFile::load(path.as_ref()).map_err(|e| {
            use riskstream_core::Classify;
            SqlError::Model {
                path: path.to_string(),
                message: e.to_string(),
                class: e.class(),
            }
        })?;
        let file = Arc::new(file);
        loaded.insert(path.to_string(), file.clone());
        Ok(file)
    }

    /// Forgets every loaded model (called before each query).
    pub fn clear(&self) {
        self.loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Which of the two functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Score,
    Reasons,
}

/// One of the two functions, sharing the engine's cache.
#[derive(Debug)]
struct ModelFunction {
    kind: Kind,
    signature: Signature,
    cache: Arc<ModelCache>,
}

// DataFusion compares functions to find common expressions: a function is known by its
// name (one cache per engine, so two instances with the same kind are interchangeable).
impl PartialEq for ModelFunction {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}
impl Eq for ModelFunction {}
impl std::hash::Hash for ModelFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

/// The two functions, to register on a session.
pub fn functions(cache: Arc<ModelCache>) -> [ScalarUDF; 2] {
    [Kind::Score, Kind::Reasons].map(|kind| {
        ScalarUDF::new_from_impl(ModelFunction {
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
            cache: cache.clone(),
        })
    })
}

impl ModelFunction {
    fn fname(&self) -> &'static str {
        match self.kind {
            Kind::Score => "riskstream_score",
            Kind::Reasons => "riskstream_reasons",
        }
    }

    fn output_type(&self) -> DataType {
        match self.kind {
            Kind::Score => DataType::Float64,
            Kind::Reasons => DataType::Utf8,
        }
    }

    fn usage(&self, message: String) -> DataFusionError {
        DataFusionError::External(Box::new(SqlError::Function {
            function: self.fname(),
            message,
        }))
    }

    /// The model named by the first argument.
    fn model(&self, first: Option<&ScalarValue>) -> DfResult<Arc<ModelFile>> {
        let path = match first {
            Some(
                ScalarValue::Utf8(Some(p))
                | ScalarValue::LargeUtf8(Some(p))
                | ScalarValue::Utf8View(Some(p)),
            ) => p,
            _ => {
                return Err(self.usage(format!(
                    "the first argument must be the model file as a text literal, e.g. {}('fraud.model.json', col1, col2, …)",
                    self.fname()
                )))
            }
        };
        self.cache
            .get(path)
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// Checks the feature arguments against the model: their count and types.
    fn check_args(&self, model: &ModelFile, fields: &[FieldRef]) -> DfResult<()> {
        let want = &model.card.feature_names;
        if fields.len() != want.len() {
            return Err(self.usage(format!(
                "the model takes {} feature column(s), in this order: {}; the call gives {}",
                want.len(),
                want.join(", "),
                fields.len()
            )));
        }
        for (i, (f, name)) in fields.iter().zip(want).enumerate() {
            let t = f.data_type();
            if !(t.is_numeric() || matches!(t, DataType::Boolean | DataType::Null)) {
                return Err(self.usage(format!(
                    "argument {} (`{}`) is {t}, but the model's feature `{name}` is a number; pass a numeric column or CAST it",
                    i + 2,
                    f.name()
                )));
            }
        }
        Ok(())
    }
}

impl ScalarUDFImpl for ModelFunction {
    fn name(&self) -> &str {
        self.fname()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(self.output_type())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs<'_>) -> DfResult<FieldRef> {
        let model = self.model(args.scalar_arguments.first().copied().flatten())?;
        self.check_args(&model, args.arg_fields.get(1..).unwrap_or_default())?;
        Ok(Arc::new(Field::new(
            self.fname(),
            self.output_type(),
            false,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let first = match args.args.first() {
            Some(ColumnarValue::Scalar(s)) => Some(s),
            _ => None,
        };
        let model = self.model(first)?;
        let rows = args.number_rows;
        if rows == 0 {
            return Ok(ColumnarValue::Array(match self.kind {
                Kind::Score => Arc::new(Float64Array::from(Vec::<f64>::new())),
                Kind::Reasons => Arc::new(StringArray::from(Vec::<String>::new())),
            }));
        }
        let columns = args
            .args
            .get(1..)
            .unwrap_or_default()
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let x = matrix(&columns, rows)?;
        let out: ArrayRef = match self.kind {
            Kind::Score => Arc::new(Float64Array::from(scores(&model.model, &x)?)),
            Kind::Reasons => Arc::new(StringArray::from(reasons(&model, &x)?)),
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// The feature columns as a row-major matrix: numbers and booleans as `f64`, null as NaN
/// (what `riskstream_io::table` gives `riskstream score`).
fn matrix(columns: &[ArrayRef], rows: usize) -> DfResult<Matrix> {
    let k = columns.len();
    let mut data = vec![f64::NAN; rows * k];
    for (j, c) in columns.iter().enumerate() {
        let f = cast(c, &DataType::Float64)?;
        let f = f.as_primitive::<Float64Type>();
        for r in 0..rows.min(f.len()) {
            if !f.is_null(r) {
                data[r * k + j] = f.value(r);
            }
        }
    }
    Matrix::new(rows, k, data).map_err(learn_error)
}

fn scores(model: &AnyModel, x: &Matrix) -> DfResult<Vec<f64>> {
    model.predict_proba(x).map_err(learn_error)
}

/// The top reasons of each row, as `riskstream score` writes them, joined by `; `.
fn reasons(file: &ModelFile, x: &Matrix) -> DfResult<Vec<String>> {
    let names = &file.card.feature_names;
    let explained = file.model.explain_rows(x).map_err(learn_error)?;
    Ok(explained
        .iter()
        .enumerate()
        .map(|(r, e)| {
            e.top_k(REASONS, names, x.row(r))
                .into_iter()
                .map(|x| format!("{}={} ({:+.4})", x.feature, x.value, x.contribution))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect())
}

fn learn_error(e: riskstream_learn::LearnError) -> DataFusionError {
    use riskstream_core::Classify;
    DataFusionError::External(Box::new(SqlError::Model {
        path: "(in the query)".into(),
        message: e.to_string(),
        class: e.class(),
    }))
}
