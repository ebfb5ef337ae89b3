//! perfgate: a performance gate for HTTP services in CI.

/// `println!` for what perfgate prints: a closed standard output (`perfgate run ... | head -1`) is not
/// the run's failure, so the line is dropped instead of panicking (as cargo and ripgrep do).
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = $crate::print_to(&mut std::io::stdout().lock(), format_args!("{}\n", format_args!($($arg)*)));
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
pub mod load;
pub mod metric;
pub mod metrics;
pub mod procfs;
pub mod report;
pub mod serve;
pub mod verdict;
