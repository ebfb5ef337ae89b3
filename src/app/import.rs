//! `perfgate import FORMAT FILE`: print a starter gate drafted from another format.

use super::{Error, Outcome};
use crate::gate::Gate;
use crate::import;
use std::path::Path;

/// The formats `perfgate import` reads.
#[derive(Debug, Clone)]
pub enum ImportFormat {
    /// An OpenAPI 3 description.
    Openapi,
    /// A locustfile.
    Locust,
    /// A browser recording (HAR 1.2).
    Har(import::har::Options),
}

/// Reads `path`, drafts a gate from it and prints the gate on stdout and the importer's notes on
/// stderr. An unreadable or malformed file is an input error (exit 2). The draft is validated before
/// it is printed; a draft `validate` would refuse is this importer's fault, so it is printed with a
/// warning naming the problems rather than withheld.
pub fn import(format: ImportFormat, path: &Path) -> Result<Outcome, Error> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::input(format_args!("{file}: cannot read it: {e}")))?;
    let imported = match format {
        ImportFormat::Openapi => import::openapi::import(&file, &text),
        ImportFormat::Locust => import::locust::import(&file, &text),
        ImportFormat::Har(opts) => import::har::import(&file, &text, &opts),
    }
    .map_err(Error::input)?;
    crate::print_line(format_args!("{}", imported.gate));
    for n in &imported.notes {
        errln!("note: {n}");
    }
    if let Err(e) = Gate::parse("imported.yaml", &imported.gate) {
        errln!("warning: the imported gate does not validate (a perfgate bug; please report it):\n{e}");
    }
    Ok(Outcome::Pass)
}
