//! Wire codes: one home (`codes`), and the paths users imported them from keep working.

use subcast_core::{codes, error, frame, pump, resolve};

#[test]
fn codes_keep_their_former_paths() {
    assert_eq!(error::RATE_LIMITED, codes::RATE_LIMITED);
    assert_eq!(error::INVALID_DOCUMENT, codes::INVALID_DOCUMENT);
    assert_eq!(frame::EVENTS_GAP, codes::EVENTS_GAP);
    assert_eq!(frame::FRAME_TOO_LARGE, codes::FRAME_TOO_LARGE);
    assert_eq!(resolve::OBJECT_NEEDS_SELECTION, codes::OBJECT_NEEDS_SELECTION);
    assert_eq!(pump::BUS_CHANNEL_LOST, codes::BUS_CHANNEL_LOST);
}

#[test]
fn error_codes_come_from_the_codes_module() {
    let error = subcast_core::Error::Unauthenticated;
    assert_eq!(error.code(), codes::UNAUTHENTICATED);
    assert_eq!(
        error.to_graphql_error().extensions["code"],
        codes::UNAUTHENTICATED
    );
}
