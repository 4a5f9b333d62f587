//! From an error to what the user sees: one line on standard error and an exit code.
//!
//! Every library crate's error type implements [`Classify`] (user / external / internal,
//! see `riskstream_core::error`). The commands return `anyhow::Error`, which erases the
//! type, so the class is found by walking the error's causes and asking each one in turn
//! whether it is one of the classified types: [`CLASSIFIERS`] lists them, one line each,
//! and a crate that adds an error type adds its line here. The first cause that answers
//! decides; a context message added with `anyhow` on the way up does not hide the typed
//! error under it.
//!
//! A plain `std::io::Error` (a file that is not there, a disk that is full) is classified by
//! its kind: the user's when the path or the data is wrong, external otherwise. Only an
//! error nothing recognises is reported as a bug (exit 70).

use riskstream_core::{Classify, ErrorClass};
use std::error::Error;

/// Tells the class of one cause, if it is of the classifier's type.
type Classifier = fn(&(dyn Error + 'static)) -> Option<ErrorClass>;

/// The class of `e` if it is an `E`.
fn class_of<E: Classify + Error + 'static>(e: &(dyn Error + 'static)) -> Option<ErrorClass> {
    e.downcast_ref::<E>().map(Classify::class)
}

/// Every error type a command can return, each asked of every cause.
const CLASSIFIERS: &[Classifier] = &[
    class_of::<riskstream_io::IoError>,
    class_of::<riskstream_core::Diagnostics>,
    class_of::<riskstream_core::Findings>,
    class_of::<riskstream_core::crypt::CryptError>,
    class_of::<riskstream_gen::GenError>,
    class_of::<riskstream_features::replay::ReplayError>,
    class_of::<riskstream_features::EngineError>,
    class_of::<riskstream_learn::LearnError>,
    class_of::<riskstream_credit::CreditError>,
    class_of::<riskstream_forecast::ForecastError>,
    class_of::<riskstream_recommend::RecommendError>,
    class_of::<riskstream_text::TextError>,
    class_of::<riskstream_online::OnlineError>,
    class_of::<riskstream_registry::RegistryError>,
    class_of::<riskstream_server::StartError>,
    class_of::<riskstream_server::admin::AdminError>,
    class_of::<riskstream_server::lineage::LineageError>,
    class_of::<riskstream_decide::DecideError>,
    class_of::<riskstream_pipeline::PipelineError>,
    class_of::<riskstream_connectors::ConnectorError>,
    class_of::<riskstream_bench::UsageError>,
    class_of::<crate::cmd::monitor::MonitorError>,
    std_io_class,
];

/// A plain I/O error: a missing, unreadable or malformed input is the user's to fix; a
/// failing disk or network is external.
fn std_io_class(e: &(dyn Error + 'static)) -> Option<ErrorClass> {
    use std::io::ErrorKind as K;
    let e = e.downcast_ref::<std::io::Error>()?;
    Some(match e.kind() {
        K::NotFound | K::PermissionDenied | K::InvalidInput | K::InvalidData => ErrorClass::User,
        _ => ErrorClass::External,
    })
}

/// Whose fault `e` is: the first of its causes that a classifier knows; a bug otherwise.
pub fn class(e: &anyhow::Error) -> ErrorClass {
    e.chain()
        .find_map(|cause| CLASSIFIERS.iter().find_map(|c| c(cause)))
        .unwrap_or(ErrorClass::Internal)
}

/// The error and its causes on one line, each cause once: our errors often say their
/// cause in their own message already (`cannot open x: No such file …`), and the chain
/// would repeat it.
pub fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.is_empty() {
            text = c;
        } else if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
    }
    text
}

/// Says the error on standard error (and asks for a report when it is a bug); returns the
/// exit code.
pub fn report(e: &anyhow::Error) -> u8 {
    let class = class(e);
    eprintln!("error: {}", message(e));
    if class == ErrorClass::Internal {
        eprintln!("This is a bug in riskstream; please report it with the command you ran.");
    }
    u8::try_from(class.exit_code()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_plain_io_error_is_classified_by_its_kind() {
        let missing = std::fs::read("/nonexistent/riskstream/x.toml")
            .context("reading /nonexistent/riskstream/x.toml")
            .unwrap_err();
        assert_eq!(class(&missing), ErrorClass::User);
        let full = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(class(&full), ErrorClass::External);
        assert_eq!(
            class(&anyhow::anyhow!("an invariant broke")),
            ErrorClass::Internal
        );
    }

    #[test]
    fn a_typed_error_under_a_context_decides() {
        let e = anyhow::Error::new(crate::cmd::UsageError("bad flag".into())).context("while x");
        assert_eq!(class(&e), ErrorClass::User);
        assert_eq!(message(&e), "while x: bad flag");
    }
}
