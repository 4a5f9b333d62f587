//! The error taxonomy: whose fault is it?
//!
//! Every library crate defines its own error enum (with `thiserror`) and implements
//! [`Classify`] on it. The split decides what happens next:
//!
//! | class | meaning | what the caller does |
//! |---|---|---|
//! | [`ErrorClass::User`] | bad input, bad config, a missing file the user named | show the message with where and how to fix; exit code 2 |
//! | [`ErrorClass::External`] | a disk, broker or database failed | retry or alert; exit code 3 |
//! | [`ErrorClass::Internal`] | an invariant of ours broke | ask for a bug report; exit code 70 |

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The user's input or configuration is wrong; the message says what and where.
    User,
    /// Something outside riskstream failed (disk, network, broker); retrying may help.
    External,
    /// A bug in riskstream.
    Internal,
}

impl ErrorClass {
    /// The process exit code the CLI uses for this class.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorClass::User => 2,
            ErrorClass::External => 3,
            ErrorClass::Internal => 70,
        }
    }
}

/// Implemented by every riskstream error type.
pub trait Classify {
    /// Whose fault this error is.
    fn class(&self) -> ErrorClass;
}

impl Classify for crate::Diagnostics {
    fn class(&self) -> ErrorClass {
        ErrorClass::User
    }
}
