//! The results JSON (`--out`): the versioned results document, also the baseline format.

use super::{Format, Input};

/// The results JSON format.
pub struct Json;

impl Format for Json {
    fn name(&self) -> &'static str {
        "results JSON"
    }

    fn render(&self, input: &Input) -> Result<Vec<u8>, String> {
        serde_json::to_vec_pretty(input.results).map_err(|e| e.to_string())
    }
}
