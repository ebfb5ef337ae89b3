//! The `perfgate` binary: runs the command and maps its outcome or error to the exit code.

fn main() {
    let code = match perfgate::cli::main() {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            let message = e.to_string();
            if !message.is_empty() {
                let _ = perfgate::print_to(&mut std::io::stderr(), format_args!("{message}\n"));
            }
            e.exit_code()
        }
    };
    std::process::exit(code);
}
