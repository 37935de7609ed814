//! Input data files in EZKL's format: `{"input_data": [[x0, x1, ...], ...]}`.
//!
//! Each inner list is one sample of the model's single input, flattened row-major. Several
//! samples are allowed (calibration uses them all; proving uses the first).

use std::path::Path;

use serde::Deserialize;

use crate::artifacts::read_file;
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(untagged)]
enum Samples {
    Many(Vec<Vec<f64>>),
    One(Vec<f64>),
}

#[derive(Deserialize)]
struct InputFile {
    input_data: Samples,
}

/// Parses input data JSON into samples.
pub fn parse_input_data(bytes: &[u8]) -> Result<Vec<Vec<f32>>> {
    let file: InputFile = serde_json::from_slice(bytes)
        .map_err(|e| Error::Data(format!("expected {{\"input_data\": [[numbers...]]}}: {e}")))?;
    let samples = match file.input_data {
        Samples::Many(s) => s,
        Samples::One(s) => vec![s],
    };
    if samples.is_empty() || samples.iter().any(Vec::is_empty) {
        return Err(Error::Data("input_data holds no values".into()));
    }
    Ok(samples.into_iter().map(|s| s.into_iter().map(|v| v as f32).collect()).collect())
}

/// Reads an input data file.
pub fn read_input_data(path: &Path) -> Result<Vec<Vec<f32>>> {
    parse_input_data(&read_file(path)?).map_err(|e| match e {
        Error::Data(reason) => Error::Data(format!("{}: {reason}", path.display())),
        other => other,
    })
}

/// Serializes samples in the same format.
pub fn input_data_json(samples: &[Vec<f32>]) -> String {
    serde_json::json!({ "input_data": samples }).to_string()
}
