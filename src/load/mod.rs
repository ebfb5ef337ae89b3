//! The load engine: plan, scheduler, virtual users and their HTTP connections.

pub mod arrivals;
pub mod client;
pub mod engine;
pub mod pace;
pub mod plan;
pub mod shard;
pub mod user;

pub use engine::{run, EngineError, Progress};
pub use plan::{Overrides, Plan};
