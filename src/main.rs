//! The `perfgate` binary: parses arguments and maps the outcome to an exit code.

fn main() {
    std::process::exit(perfgate::cli::main());
}
