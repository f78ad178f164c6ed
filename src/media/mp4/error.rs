//! Why a file cannot be packaged: [`Mp4Error`], one line naming the cause.

/// Why a file cannot be packaged: every variant is the file's fault (a
/// 4xx), with a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mp4Error {
    /// Not an ISO BMFF file at all.
    #[error("not an MP4 file: {0}")]
    NotMp4(&'static str),
    /// A box or the file ends before its content does.
    #[error("truncated MP4: {0}")]
    Truncated(&'static str),
    /// A required box is absent.
    #[error("MP4 without a {} box", String::from_utf8_lossy(.0))]
    Missing([u8; 4]),
    /// A codec or box this packager does not handle.
    #[error("unsupported MP4: {0}")]
    Unsupported(String),
    /// A table or value that cannot be right.
    #[error("invalid MP4: {0}")]
    Invalid(&'static str),
}
