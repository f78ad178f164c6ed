//! Opening the store a config selects: the embedded one or Elliptics.

#[cfg(feature = "elliptics")]
use super::elliptics;
use super::{local, Storage, StorageError};

/// Opens the store the config selects: the embedded one when a `local`
/// section is present, else Elliptics; groups that time out are skipped
/// until they answer again ([`super::suspect`]).
pub fn open(config: &crate::config::Config) -> Result<std::sync::Arc<dyn Storage>, OpenError> {
    let store = open_store(config)?;
    Ok(std::sync::Arc::new(super::suspect::SkipSuspects::new(
        store,
    )))
}

fn open_store(config: &crate::config::Config) -> Result<std::sync::Arc<dyn Storage>, OpenError> {
    match &config.local {
        Some(l) => Ok(std::sync::Arc::new(
            local::LocalStore::open(l).map_err(OpenError::Local)?,
        )),
        #[cfg(feature = "elliptics")]
        None => Ok(std::sync::Arc::new(
            elliptics::EllipticsStore::open(config).map_err(OpenError::Elliptics)?,
        )),
        #[cfg(not(feature = "elliptics"))]
        None => Err(OpenError::NoElliptics),
    }
}

/// Why the store the config selects cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The embedded store's directories cannot be used.
    #[error("local store: {0}")]
    Local(StorageError),
    /// The Elliptics client cannot start or reach its nodes.
    #[error("elliptics: {0}")]
    Elliptics(StorageError),
    /// The config selects Elliptics, which this binary lacks.
    #[error(
        "the config selects Elliptics (elliptics.remote and no \"local\" section), \
         but this binary was built without Elliptics support: rebuild with \
         `cargo build --release --features elliptics` against the elliptics-dev package"
    )]
    NoElliptics,
}
