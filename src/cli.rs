//! Command-line arguments and subcommands: parse them, and call the application layer.

use crate::app::{self, Baseline, DemoOptions, Error, LoadOptions, Outcome, ReportOptions, RunOptions};
use crate::gate::{duration::parse_duration, Gate};
use crate::report;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// perfgate: load an HTTP service, measure it, judge it against targets and a baseline.
#[derive(Debug, Parser)]
#[command(name = "perfgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a gate file's load profile against a target and write the results.
    Run(RunArgs),
    /// Check a gate file and print what it would run.
    Validate {
        /// The gate file.
        gate: PathBuf,
    },
    /// Print the gate file's JSON Schema (draft-07) for editors.
    Schema,
    /// Serve the embedded demo backend (the reference PrismQ API) on 127.0.0.1.
    ServeDemo {
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Demo knobs.
        #[command(flatten)]
        demo: crate::demo::DemoOptions,
    },
    /// Start the demo backend on a free loopback port and run gates/prismq.yaml against it.
    Demo(DemoArgs),
    /// Compare two results files under a gate's regression budgets (and judge head's targets).
    Compare {
        /// The base run's results.
        base: PathBuf,
        /// The head run's results.
        head: PathBuf,
        /// The gate file with the budgets (default: the file named in head's results).
        #[arg(long)]
        gate: Option<PathBuf>,
        /// Report files.
        #[command(flatten)]
        reports: ReportArgs,
    },
    /// Post or update the sticky PR comment for a saved results file (with a baseline: its deltas).
    Comment {
        /// The head run's results.
        results: PathBuf,
        /// The base run's results, for the delta table.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// The gate file (default: the file named in the results).
        #[arg(long)]
        gate: Option<PathBuf>,
    },
    /// Judge a saved results file against a gate's targets and write reports, without load.
    Report {
        /// The results JSON written by `perfgate run --out`.
        results: PathBuf,
        /// The gate file whose targets judge it (default: the file named in the results).
        #[arg(long)]
        gate: Option<PathBuf>,
        /// Report files.
        #[command(flatten)]
        reports: ReportArgs,
    },
}

/// Options of `perfgate run` that mirror Locust's flags.
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Number of concurrent users (overrides `load.users`).
    #[arg(short = 'u', long)]
    pub users: Option<u32>,
    /// Users started per second (overrides `load.spawn_rate`).
    #[arg(short = 'r', long, allow_negative_numbers = true)]
    pub spawn_rate: Option<f64>,
    /// How long to run, e.g. `30s`, `1m` (overrides `load.run_time`).
    #[arg(short = 't', long, value_parser = parse_duration)]
    pub run_time: Option<Duration>,
    /// Seed for a reproducible task and think-time sequence.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also trust the certificates in this PEM file for https targets (a private CA, a self-signed service).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Accept any TLS certificate (encryption without authentication: test services only).
    #[arg(long)]
    pub insecure: bool,
    /// Only the final table: no progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Report files.
    #[command(flatten)]
    pub reports: ReportArgs,
}

/// Report files to write (checked writable before any load starts).
#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    /// Write the results JSON here (also the baseline format). A report path of `-` is standard output
    /// (the terminal table then goes to standard error).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write JUnit XML here: one testcase per check.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a markdown summary here (also appended to $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Write a self-contained HTML report with charts here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write Locust-compatible CSV files PREFIX_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Post or update one sticky comment on the pull request (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH).
    #[arg(long)]
    pub comment: bool,
}

/// Arguments of `perfgate run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The gate file (YAML).
    pub gate: PathBuf,
    /// Scenario (user class) names to run; default: the gate's selection, or all.
    pub scenarios: Vec<String>,
    /// Base URL of the target, e.g. http://127.0.0.1:8000 (overrides `host`).
    #[arg(short = 'H', long, env = "PERFGATE_HOST")]
    pub host: Option<String>,
    /// Load settings.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Baseline comparison.
    #[command(flatten)]
    pub baseline: BaselineArgs,
    /// Start the service under test: a shell command with `{port}` (a free loopback port); replaces --host.
    #[arg(long, value_name = "CMD", conflicts_with = "host")]
    pub serve: Option<String>,
}

/// How `perfgate run` compares with a baseline.
#[derive(Debug, Args, Clone, Default)]
pub struct BaselineArgs {
    /// Compare with this results file of another commit (base ran earlier: sequential comparison).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Duet mode: load this base build in the same window, interleaved with --host, and compare them.
    #[arg(long, value_name = "URL", conflicts_with = "baseline")]
    pub baseline_host: Option<String>,
    /// In duet mode, also write the base side's results here.
    #[arg(long, value_name = "FILE", requires = "baseline_host")]
    pub baseline_out: Option<PathBuf>,
    /// A/A calibration: a duet of two processes of the same build (two started copies with --serve, or
    /// --host with --baseline-host); reports the noise floor per budget and recommends budgets.
    #[arg(long, conflicts_with_all = ["baseline"])]
    pub calibrate: bool,
    /// Duet mode with a started base build: a shell command with `{port}`, like --serve.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["baseline", "baseline_host", "calibrate"])]
    pub baseline_serve: Option<String>,
}

/// Arguments of `perfgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Gate file to run instead of the embedded gates/prismq.yaml.
    #[arg(long)]
    pub gate: Option<PathBuf>,
    /// Load settings (the embedded gate runs 20s unless --run-time says otherwise; a --gate file keeps its own run time).
    #[command(flatten)]
    pub load: LoadArgs,
    /// Demo knobs.
    #[command(flatten)]
    pub demo: crate::demo::DemoOptions,
}

/// Parses the arguments and runs the command: what it decided, or why it could not.
pub fn main() -> Result<Outcome, Error> {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        // --help and --version print and succeed; a usage error is invalid input.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return Ok(Outcome::Pass);
        }
        Err(e) => return Err(Error::Input(e.render().to_string().trim_end().to_string())),
    };
    crate::metrics::health::raise_open_files_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::untrusted(format_args!("cannot start the async runtime: {e}"), None))?;
    rt.block_on(dispatch(cli.command))
}

async fn dispatch(cmd: Command) -> Result<Outcome, Error> {
    match cmd {
        Command::Run(args) => {
            let gate = Gate::load(&args.gate)?;
            let calibrating = args.baseline.calibrate;
            let opts = args.into_options();
            if calibrating {
                app::calibrate(&gate, &opts).await
            } else {
                app::run(&gate, &opts).await
            }
        }
        Command::Validate { gate } => {
            let g = Gate::load(&gate)?;
            outln!("{}: valid gate `{}`", g.file, g.name);
            app::console::print_outline(&g);
            Ok(Outcome::Pass)
        }
        Command::Schema => {
            // The schema is this command's product: a full disk is an error, a closed pipe is not.
            crate::print_to(
                &mut std::io::stdout().lock(),
                format_args!("{}\n", crate::gate::schema()),
            )
            .map_err(|e| Error::Reports(format!("error: cannot write the schema to standard output: {e}")))?;
            Ok(Outcome::Pass)
        }
        Command::ServeDemo { port, demo } => app::serve_demo(port, demo).await,
        Command::Demo(args) => app::demo(&args.into_options()).await,
        Command::Report { results, gate, reports } => app::report(&results, gate, &reports.options()).await,
        Command::Comment {
            results,
            baseline,
            gate,
        } => app::comment(&results, baseline.as_deref(), gate).await,
        Command::Compare {
            base,
            head,
            gate,
            reports,
        } => app::compare(&base, &head, gate, &reports.options()).await,
    }
}

impl ReportArgs {
    fn options(&self) -> ReportOptions {
        ReportOptions {
            paths: report::Paths {
                out: self.out.clone(),
                junit: self.junit.clone(),
                summary: self.summary.clone(),
                html: self.html.clone(),
                csv: self.csv.clone(),
            },
            comment: self.comment,
        }
    }
}

impl LoadArgs {
    fn options(&self) -> LoadOptions {
        LoadOptions {
            users: self.users,
            spawn_rate: self.spawn_rate,
            run_time: self.run_time,
            seed: self.seed,
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
            quiet: self.quiet,
        }
    }
}

impl RunArgs {
    fn into_options(self) -> RunOptions {
        let b = &self.baseline;
        let baseline = if let Some(p) = &b.baseline {
            Baseline::File(p.clone())
        } else if let Some(h) = &b.baseline_host {
            Baseline::Host(h.clone())
        } else if let Some(c) = &b.baseline_serve {
            Baseline::Serve(c.clone())
        } else {
            Baseline::None
        };
        RunOptions {
            host: self.host,
            serve: self.serve,
            scenarios: self.scenarios,
            load: self.load.options(),
            baseline,
            baseline_out: self.baseline.baseline_out,
            reports: self.load.reports.options(),
        }
    }
}

impl DemoArgs {
    fn into_options(self) -> DemoOptions {
        DemoOptions {
            gate: self.gate,
            run: RunOptions {
                load: self.load.options(),
                reports: self.load.reports.options(),
                ..RunOptions::default()
            },
            knobs: self.demo,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn arguments_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
