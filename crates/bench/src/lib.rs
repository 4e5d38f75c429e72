//! `slugbase-bench`: measures the SlugBase Auth server the same way every time (issue 7).
//!
//! The server is started in this process through `slugbase_server::Application::build`,
//! exactly as `slugbase serve` starts it (so `/proc/self/status` is the server's memory),
//! on a fresh SQLite file or the PostgreSQL or MySQL/MariaDB database given. Users are seeded through the
//! storage ports (and, past the thousand the load drives, by bulk inserts on the same
//! schema: see [`seed`]). A reqwest client drives the server over loopback at a chosen
//! concurrency ([`load`]); [`run`] holds the scenarios, [`report`] prints them. [`scale`]
//! measures one, two and three instances behind HAProxy (`slugbase-scale-bench`).

mod client;
pub mod figures;
pub mod import;
mod intrinsic;
pub mod load;
pub mod options;
pub mod report;
pub mod rss;
pub mod run;
pub mod scale;
pub mod seed;
