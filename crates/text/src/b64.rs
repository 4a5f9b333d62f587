//! Numeric arrays in model files as base64 of their little-endian bytes.
//!
//! Why: a model holds feature × class weights (hundreds of thousands of numbers). As JSON
//! numbers that is about twelve bytes each and slow to parse; as base64 it is 5.3 bytes,
//! exact (the bits are stored), and still one self-describing JSON document whose card a
//! reviewer can read. The content hash covers these strings like any other field.

/// `Vec<f32>` as base64 of little-endian bytes.
pub mod f32s {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{Deserializer, Serializer};

    /// Encodes.
    pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        let mut b = Vec::with_capacity(v.len() * 4);
        for x in v {
            b.extend_from_slice(&x.to_le_bytes());
        }
        s.serialize_str(&STANDARD.encode(b))
    }

    /// Decodes; a length that is not a multiple of four is an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let b = super::bytes(d)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// `Vec<u32>` as base64 of little-endian bytes.
pub mod u32s {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{Deserializer, Serializer};

    /// Encodes.
    pub fn serialize<S: Serializer>(v: &[u32], s: S) -> Result<S::Ok, S::Error> {
        let mut b = Vec::with_capacity(v.len() * 4);
        for x in v {
            b.extend_from_slice(&x.to_le_bytes());
        }
        s.serialize_str(&STANDARD.encode(b))
    }

    /// Decodes; a length that is not a multiple of four is an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
        let b = super::bytes(d)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

fn bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    use base64::{engine::general_purpose::STANDARD, Engine};
    use serde::{de::Error, Deserialize};
    let s = String::deserialize(d)?;
    let b = STANDARD
        .decode(s.as_bytes())
        .map_err(|e| D::Error::custom(format!("bad base64 array: {e}")))?;
    if b.len() % 4 != 0 {
        return Err(D::Error::custom(format!(
            "array of {} bytes is not a whole number of 4-byte values",
            b.len()
        )));
    }
    Ok(b)
}
