//! Why backends could not be provisioned, each with what to do about it.

use std::time::Duration;

/// A provisioning failure. Every message names the missing piece and how to get it.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No Docker API answered.
    #[error(
        "no Docker engine answers ({detail}). Start one (e.g. `scripts/dockerd.sh start` and export the \
         DOCKER_HOST it prints), or use --backend local"
    )]
    NoDocker {
        /// What the client said.
        detail: String,
    },
    /// A container image is neither present nor pullable.
    #[error(
        "container image {image} is not available ({detail}). Pull it, or build local images with \
         `scripts/build-images.sh` and set TIERBENCH_REDIS_IMAGE / TIERBENCH_DYNAMODB_IMAGE"
    )]
    Image {
        /// The image.
        image: String,
        /// What the engine said.
        detail: String,
    },
    /// A container could not be started or inspected.
    #[error("container {what}: {detail}")]
    Container {
        /// Which container.
        what: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A program needed for local processes is missing.
    #[error("{what} not found: {hint}")]
    Missing {
        /// What is missing.
        what: &'static str,
        /// How to get it.
        hint: String,
    },
    /// A local process exited while starting.
    #[error("{what} exited while starting ({status}); its output ends with:\n{log_tail}")]
    Exited {
        /// Which process.
        what: &'static str,
        /// Its exit status.
        status: String,
        /// The last lines it printed.
        log_tail: String,
    },
    /// A server did not answer in time.
    #[error("{what} at {endpoint} did not answer within {waited:?}: {detail}")]
    NotReady {
        /// Which server.
        what: &'static str,
        /// Where it was asked.
        endpoint: String,
        /// How long it was given.
        waited: Duration,
        /// The last error seen.
        detail: String,
    },
    /// An external endpoint was not usable.
    #[error(
        "{what} at {endpoint} is unreachable: {detail}. Check the address, or use --backend local/containers"
    )]
    Unreachable {
        /// Which server.
        what: &'static str,
        /// Where it was asked.
        endpoint: String,
        /// What went wrong.
        detail: String,
    },
    /// `--backend external` without endpoints.
    #[error("--backend external needs --redis-url and either --dynamodb-endpoint or --aws")]
    ExternalIncomplete,
    /// Neither Docker nor local binaries exist.
    #[error(
        "no backends available: no Docker engine answers, and local processes fail: {local}. \
         Install them with `scripts/install-backends.sh`, or give --redis-url and --dynamodb-endpoint"
    )]
    NothingAvailable {
        /// Why local processes failed.
        local: String,
    },
    /// `--backend sim` asks for no servers: the simulator models them. `run`,
    /// `sweep` and `sim` simulate instead; `backends up` refuses.
    #[error(
        "--backend sim starts no servers (the simulator models them): use --backend local, containers or external"
    )]
    Simulated,
    /// The `backends up` state file could not be read or written.
    #[error("state file {path}: {detail}")]
    State {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

impl BackendError {
    /// Whether the failure is a usage error (exit 2) rather than missing or
    /// failing infrastructure (exit 3).
    pub fn is_usage(&self) -> bool {
        matches!(self, BackendError::ExternalIncomplete | BackendError::Simulated)
    }
}
