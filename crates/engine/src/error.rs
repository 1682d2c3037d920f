//! The one error type of `engine`: what an API caller asked for that the
//! switch cannot do. (What a SIP peer is told is decided where the request
//! is handled: every refusal there is a SIP response, never an error value.)

/// Why an [`crate::Engine`] method refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine does not hold this call (it never existed, or it ended
    /// long enough ago to be forgotten).
    #[error("no such call")]
    UnknownCall,
    /// The call has already ended.
    #[error("the call has already ended")]
    CallEnded,
    /// The operation needs an answered call (status `progressing`).
    #[error("the call is not answered (media controls need status progressing)")]
    NotAnswered,
    /// Too much is already queued (the message says what).
    #[error("{0}")]
    Busy(&'static str),
    /// The request cannot be carried out as asked (the message says why,
    /// naming the field).
    #[error("{0}")]
    Invalid(String),
}
