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

    /// Written as it is serialized: a run of many names over a long time has a results file of tens
    /// of megabytes, which need not be in memory twice.
    fn render_to(&self, input: &Input, out: &mut dyn std::io::Write) -> Result<(), String> {
        serde_json::to_writer_pretty(out, input.results).map_err(|e| {
            if e.is_io() {
                e.to_string()
            } else {
                format!("cannot render the {}: {e}", self.name())
            }
        })
    }
}
