//! perfgate: a performance gate for HTTP services in CI.

pub mod app;
pub mod cli;
pub mod demo;
pub mod gate;
pub mod github;
pub mod http;
pub mod import;
pub mod load;
pub mod metric;
pub mod metrics;
pub mod procfs;
pub mod report;
pub mod serve;
pub mod verdict;
