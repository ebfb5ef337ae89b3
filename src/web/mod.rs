//! The live view in the browser (`run --web`, `perfgate ui`): a small HTTP server showing the run's
//! latest snapshot. The run publishes; the server only reads the newest update, so the load never
//! waits for a browser.

pub mod server;
pub mod state;
pub mod token;
pub mod view;

pub use server::{start, Control, Server, StartForm};
pub use state::{Downloads, Feed};
pub use view::{Now, Stage, View};

/// Where the live view listens by default (Locust's port).
pub const DEFAULT_ADDR: &str = "127.0.0.1:8089";
