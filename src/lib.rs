//! perfgate: a performance gate for HTTP services in CI.

/// Set when a report goes to standard output (`--out -`): the terminal output then goes to stderr.
static STDOUT_IS_A_REPORT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Hands standard output to a report: from now on [`outln!`] prints to standard error.
pub fn stdout_is_a_report() {
    STDOUT_IS_A_REPORT.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Prints a line of terminal output (stdout, or stderr once a report has standard output).
#[doc(hidden)]
pub fn print_line(text: std::fmt::Arguments) {
    let _ = if STDOUT_IS_A_REPORT.load(std::sync::atomic::Ordering::Relaxed) {
        print_to(&mut std::io::stderr().lock(), text)
    } else {
        print_to(&mut std::io::stdout().lock(), text)
    };
}

/// `println!` for what perfgate prints: a closed standard output (`perfgate run ... | head -1`) is not
/// the run's failure, so the line is dropped instead of panicking (as cargo and ripgrep do).
macro_rules! outln {
    ($($arg:tt)*) => {{
        $crate::print_line(format_args!("{}\n", format_args!($($arg)*)))
    }};
}

/// `eprintln!` that drops the line when standard error is closed, like [`outln!`].
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = $crate::print_to(&mut std::io::stderr().lock(), format_args!("{}\n", format_args!($($arg)*)));
    }};
}

/// Writes `text` to `out` and flushes it; a broken pipe (the reader went away) counts as written.
pub fn print_to(out: &mut impl std::io::Write, text: std::fmt::Arguments) -> std::io::Result<()> {
    match out.write_fmt(text).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

pub mod app;
pub mod cli;
pub mod demo;
pub mod gate;
pub mod github;
pub mod http;
pub mod import;
pub mod input;
pub mod load;
pub mod metric;
pub mod metrics;
pub mod procfs;
pub mod report;
pub mod serve;
pub mod verdict;
pub mod web;
