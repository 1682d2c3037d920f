//! The one error type of `sip-core`: what the application asked for that
//! the endpoint cannot do.

/// Why an application call on [`crate::Endpoint`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("no such transaction")]
    UnknownTransaction,
    #[error("no such dialog")]
    UnknownDialog,
    #[error("the dialog is terminated")]
    DialogTerminated,
    /// RFC 3261 §14.1: no new INVITE while another is in progress on the dialog.
    #[error("an INVITE transaction is already in progress on this dialog")]
    InvitePending,
    #[error("invalid in this transaction state: {0}")]
    InvalidState(&'static str),
    #[error("{0} cannot be sent this way")]
    WrongMethod(&'static str),
    #[error("the message lacks a usable {0}")]
    Malformed(&'static str),
}
