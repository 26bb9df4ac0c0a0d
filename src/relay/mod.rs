//! The SBRP relay (feature `relay`): a sans-I/O core that routes frames between daemons and
//! clients and runs the per-session state machine. It takes events (a connection admitted,
//! a message received, bytes flushed, a timer tick, a connection gone) with the time passed in,
//! and returns [`core::Action`]s (send these bytes to connection X, close X with a code, an
//! event to log or count). [`server`] drives it over tokio + tokio-tungstenite (+ rustls).

pub mod capture;
pub mod core;
pub mod log;
pub mod metrics;
pub mod observe;
pub mod pending;
pub mod server;

pub use self::capture::{CaptureLog, CaptureOptions, CaptureReport, CaptureStream};
pub use self::core::{
    Action, Admission, ConnId, Refusal, RelayConfig, RelayCore, RelayEvent, SendKind, SessionState,
    close_code_for,
};
pub use self::log::LogObserver;
pub use self::metrics::{Metrics, MetricsServer};
pub use self::observe::{
    ConnectionEvent, Fanout, FrameAction, FrameInterest, FrameRecord, Observer, Party,
};
pub use self::pending::{Eviction, HandshakeLimits, PendingHandshakes, Source};
pub use self::server::{JwksSource, RelayServer, ServerConfig, ServerError};
