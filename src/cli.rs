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
    Run(Box<RunArgs>),
    /// Check a gate file and print what it would run.
    Validate {
        /// The gate file.
        gate: PathBuf,
    },
    /// Print the gate file's JSON Schema (draft-07) for editors.
    Schema,
    /// Print a starter gate made from what a team already has (redirect it to a file, then validate it).
    #[command(subcommand)]
    Import(ImportCommand),
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
    /// Serve a page to start, steer and stop runs of a gate in the browser (users, spawn rate, host,
    /// scenarios, run time; change users while running; reset; judge; download the results).
    Ui(UiArgs),
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
        /// Tell this comment apart from the same gate's others on the PR (e.g. a matrix job's OS).
        #[arg(long, value_name = "KEY")]
        comment_key: Option<String>,
        /// Print exactly the body that would be posted, and post nothing (no token needed).
        #[arg(long)]
        dry_run: bool,
        /// The pull request, when the event names none (a fork's workflow_run): the gate job's
        /// `{"number": N, "head_sha": "..."}`, checked against GitHub before it is believed.
        #[arg(long, value_name = "FILE")]
        pr_file: Option<PathBuf>,
        /// When the pull request has this label, its regressions are accepted (as with --accept-label on run).
        #[arg(long, value_name = "LABEL")]
        accept_label: Option<String>,
    },
    /// Fetch the base commit's results from its workflow run's artifact (when the Actions cache has
    /// evicted them); finding none is a notice, exit 0, nothing written.
    FetchBaseline {
        /// The base commit.
        #[arg(long)]
        commit: String,
        /// The artifact's name, e.g. `perfgate-<sha>`.
        #[arg(long)]
        artifact: String,
        /// Search only this workflow's runs (its file name, e.g. `perf.yml`).
        #[arg(long)]
        workflow: Option<String>,
        /// The results file in the artifact.
        #[arg(long, default_value = "results.json")]
        file: String,
        /// Where to write it.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Merge the results files of a sharded run (`run --shard I/N`) into one, exactly.
    Merge {
        /// Every shard's results file, once each.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Write the merged results here.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
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

/// The formats `perfgate import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An OpenAPI 3 description (JSON or YAML; FastAPI serves one at /openapi.json): GET operations
    /// as weighted tasks, writes as comments, a commented `targets:` section.
    Openapi {
        /// The description: a file, or a URL such as http://127.0.0.1:8000/openapi.json.
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
    },
    /// A locustfile: HttpUser/FastHttpUser classes, weights, wait times, @task(n), `tasks`, task sets,
    /// on_start/on_stop, self.client calls and catch_response checks, read with a Python parser; what
    /// it cannot translate is listed with file:line as comments and notes.
    Locust {
        /// The locustfile.
        file: PathBuf,
    },
    /// A browser recording (HAR 1.2, "Save all as HAR"): a request sequence per page, static assets
    /// and other hosts left out, the think time from the recorded gaps between pages.
    Har {
        /// The HAR file.
        file: PathBuf,
        /// Keep the requests to this host (default: the host of most non-static requests).
        #[arg(long, value_name = "HOST")]
        from_host: Option<String>,
        /// Keep static assets (scripts, stylesheets, images, fonts, media).
        #[arg(long)]
        keep_static: bool,
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
    /// JUnit dialect: `junit10` (valid against Jenkins' junit-10.xsd; default) or `github` (adds file and line to testcases for GitHub's and GitLab's reporters).
    #[arg(long, value_name = "FLAVOR", default_value = "junit10", value_parser = report::junit::Flavor::parse)]
    pub junit_flavor: report::junit::Flavor,
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
    /// With --comment: tell this comment apart from the same gate's others on the PR (e.g. a matrix
    /// job's OS), so matrix jobs do not overwrite each other's comments.
    #[arg(long, value_name = "KEY", requires = "comment")]
    pub comment_key: Option<String>,
    /// When the pull request (from the event file) has this label, every regression, warning and
    /// marginal comparison is accepted: it passes, and every report says why.
    #[arg(long, value_name = "LABEL")]
    pub accept_label: Option<String>,
}

/// Arguments of `perfgate run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The gate file (YAML).
    pub gate: PathBuf,
    /// Scenario (user class) names to run; default: the gate's selection, or all.
    pub scenarios: Vec<String>,
    /// Base URL of the target, e.g. http://127.0.0.1:8000 (overrides `host`; also the environment's
    /// PERFGATE_HOST, which --serve overrides: a job-level variable does not conflict with it).
    #[arg(short = 'H', long)]
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
    /// Run an untrusted run (exit 3: overloaded generator, unreachable target, a service that would
    /// not start) again, up to N more times (at most 10), each attempt logged; a stop signal ends it.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: u32,
    /// Let the started services (--serve, --baseline-serve) inherit this variable, which perfgate
    /// withholds by default (GITHUB_TOKEN, ACTIONS_RUNTIME_TOKEN, ...); repeatable.
    #[arg(long, value_name = "NAME")]
    pub serve_env: Vec<String>,
    /// Sharding: this process runs one share of the profile.
    #[command(flatten)]
    pub shard: ShardArgs,
    /// The live view in the browser.
    #[command(flatten)]
    pub web: WebArgs,
}

/// Arguments of `perfgate ui`.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The gate file (YAML).
    pub gate: PathBuf,
    /// The form's default host (default: the gate's `host`).
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Where the page is served; any address but loopback needs the token.
    #[arg(long, value_name = "ADDR", default_value = crate::web::DEFAULT_ADDR)]
    pub web: std::net::SocketAddr,
    /// The page's token off loopback (default: generated and printed in the URL); at least 16 characters.
    #[arg(long, value_name = "TOKEN", env = "PERFGATE_WEB_TOKEN", hide_env_values = true)]
    pub web_token: Option<String>,
    /// The longest one run may last, also one started with an empty run time ("until stopped").
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub max_run_time: Duration,
    /// Also trust the certificates in this PEM file for https targets.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Accept any TLS certificate (test services only).
    #[arg(long)]
    pub insecure: bool,
    /// No progress output on the terminal.
    #[arg(short, long)]
    pub quiet: bool,
}

impl UiArgs {
    fn options(&self) -> crate::app::UiOptions {
        crate::app::UiOptions {
            web: crate::app::WebOptions {
                addr: self.web,
                token: self.web_token.clone(),
                linger: Duration::ZERO,
            },
            host: self.host.clone(),
            max_run_time: self.max_run_time,
            load: LoadOptions {
                ca_file: self.ca_file.clone(),
                insecure: self.insecure,
                quiet: self.quiet,
                ..LoadOptions::default()
            },
        }
    }
}

/// The live view in the browser (`--web`).
#[derive(Debug, Args, Clone, Default)]
pub struct WebArgs {
    /// Serve a live page of the run at this address (default 127.0.0.1:8089): the stats table, charts,
    /// failures, provisional checks; then the verdict and the HTML report.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = crate::web::DEFAULT_ADDR)]
    pub web: Option<std::net::SocketAddr>,
    /// The token the page needs when --web binds a non-loopback address (default: one is generated and
    /// printed in the URL); at least 16 characters.
    #[arg(long, value_name = "TOKEN", env = "PERFGATE_WEB_TOKEN", hide_env_values = true)]
    pub web_token: Option<String>,
    /// How long the final page stays up after the run (Ctrl-C ends it sooner).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m", requires = "web")]
    pub web_linger: Duration,
}

impl WebArgs {
    fn options(&self) -> Option<crate::app::WebOptions> {
        self.web.map(|addr| crate::app::WebOptions {
            addr,
            token: self.web_token.clone(),
            linger: self.web_linger,
        })
    }
}

/// How `perfgate run` takes part in a sharded run.
#[derive(Debug, Args, Clone, Default)]
pub struct ShardArgs {
    /// Run share I of N of the profile (I from 1 to N); `perfgate merge` makes the shards' results one.
    #[arg(long, value_name = "I/N", value_parser = crate::load::shard::Shard::parse, conflicts_with = "shards")]
    pub shard: Option<crate::load::shard::Shard>,
    /// Run one of N shards, I taken from JOB_COMPLETION_INDEX + 1 (a Kubernetes Indexed Job counts from 0).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Shared by every shard of one run (default: $GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT, else the --start-at time).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Start the load at this moment, so shards cover the same seconds: RFC 3339 (2026-12-02T10:00:00Z) or `+45s` from now.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
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
    /// In duet mode, the base build's commit, recorded in the base side's results and named in the
    /// comment (default: the checked-out commit, which is head's).
    #[arg(long, value_name = "SHA", conflicts_with_all = ["baseline", "calibrate"])]
    pub baseline_commit: Option<String>,
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
        Command::Validate { gate } => app::validate(&gate),
        Command::Import(ImportCommand::Openapi { file }) => app::import(app::ImportFormat::Openapi, &file).await,
        Command::Import(ImportCommand::Locust { file }) => app::import(app::ImportFormat::Locust, &file).await,
        Command::Import(ImportCommand::Har {
            file,
            from_host,
            keep_static,
        }) => {
            app::import(
                app::ImportFormat::Har(crate::import::har::Options { from_host, keep_static }),
                &file,
            )
            .await
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
        Command::Ui(args) => {
            let gate = Gate::load(&args.gate)?;
            app::ui(&gate, &args.options()).await
        }
        Command::Report { results, gate, reports } => app::report(&results, gate, &reports.options()).await,
        Command::Merge { shards, out } => app::merge(&shards, &out),
        Command::Comment {
            results,
            baseline,
            gate,
            comment_key,
            dry_run,
            pr_file,
            accept_label,
        } => {
            let opts = crate::github::CommentOptions {
                key: comment_key,
                dry_run,
                pr_file,
                accept_label: accept_label.clone(),
            };
            app::comment(&results, baseline.as_deref(), gate, opts, accept_label).await
        }
        Command::Compare {
            base,
            head,
            gate,
            reports,
        } => app::compare(&base, &head, gate, &reports.options()).await,
        Command::FetchBaseline {
            commit,
            artifact,
            workflow,
            file,
            out,
        } => {
            let opts = app::FetchOptions {
                commit,
                workflow,
                artifact,
                file,
            };
            app::fetch_baseline(&opts, &out).await
        }
    }
}

impl ReportArgs {
    fn options(&self) -> ReportOptions {
        ReportOptions {
            paths: report::Paths {
                out: self.out.clone(),
                junit: self.junit.clone(),
                junit_flavor: self.junit_flavor,
                summary: self.summary.clone(),
                html: self.html.clone(),
                csv: self.csv.clone(),
            },
            comment: self.comment.then(|| crate::github::CommentOptions {
                key: self.comment_key.clone(),
                dry_run: false,
                pr_file: None,
                accept_label: self.accept_label.clone(),
            }),
            accept_label: self.accept_label.clone(),
            retry_left: false,
            web: None,
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
        // PERFGATE_HOST is a default for --host: an explicit --host or --serve wins over it.
        let host = self.host.or_else(|| {
            self.serve
                .is_none()
                .then(|| std::env::var("PERFGATE_HOST").ok().filter(|h| !h.is_empty()))
                .flatten()
        });
        RunOptions {
            host,
            serve: self.serve,
            serve_env: self.serve_env,
            scenarios: self.scenarios,
            load: self.load.options(),
            baseline,
            baseline_out: self.baseline.baseline_out,
            baseline_commit: self.baseline.baseline_commit,
            retries: self.retries,
            reports: self.load.reports.options(),
            sharding: crate::app::Sharding {
                shard: self.shard.shard,
                shards: self.shard.shards,
                run_id: self.shard.run_id,
                start_at: self.shard.start_at,
            },
            web: self.web.options(),
            controls: None,
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
