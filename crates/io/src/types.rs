//! How schema types map onto Arrow.
//!
//! | schema | Arrow |
//! |---|---|
//! | int | `Int64` |
//! | float | `Float64` |
//! | string | `Utf8` |
//! | bool | `Boolean` |
//! | timestamp | `Timestamp(Microsecond, "+00:00")` (UTC) |
//! | category | `Dictionary(Int32, Utf8)` |

use arrow_schema::{DataType, Field as ArrowField, Schema as ArrowSchema, SchemaRef, TimeUnit};
use riskstream_core::{FieldType, Schema};
use std::collections::HashMap;
use std::sync::Arc;

/// The Arrow type of a schema type.
pub fn arrow_type(ty: FieldType) -> DataType {
    match ty {
        FieldType::Int => DataType::Int64,
        FieldType::Float => DataType::Float64,
        FieldType::String => DataType::Utf8,
        FieldType::Bool => DataType::Boolean,
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        FieldType::Category => {
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        }
    }
}

/// The Arrow schema of an event schema. Field metadata records the roles (`riskstream.role`)
/// so a Parquet file written by riskstream describes itself.
pub fn arrow_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<ArrowField> = schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut af = ArrowField::new(&f.name, arrow_type(f.ty), !f.required);
            let roles = schema.roles(i);
            if !roles.is_empty() {
                af = af.with_metadata(HashMap::from([(
                    "riskstream.role".to_string(),
                    roles.join(","),
                )]));
            }
            af
        })
        .collect();
    Arc::new(ArrowSchema::new(fields).with_metadata(HashMap::from([(
        "riskstream.schema".to_string(),
        schema.name.clone(),
    )])))
}

/// The schema type closest to an Arrow type, for files read without a schema.
pub fn field_type_of(dt: &DataType) -> Option<FieldType> {
    Some(match dt {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => FieldType::Int,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => FieldType::Int,
        DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
            FieldType::Float
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => FieldType::String,
        DataType::Boolean => FieldType::Bool,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => FieldType::Timestamp,
        DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8) => {
            FieldType::Category
        }
        _ => return None,
    })
}
