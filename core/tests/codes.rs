//! Wire codes: one home (`codes.rs`), re-exported once at the crate root.

#[test]
fn every_wire_code_is_named_at_the_root() {
    let codes = [
        (subcast_core::UNAUTHENTICATED, "UNAUTHENTICATED"),
        (subcast_core::FIELD_FORBIDDEN, "FIELD_FORBIDDEN"),
        (subcast_core::INSUFFICIENT_SCOPE, "INSUFFICIENT_SCOPE"),
        (subcast_core::IDENTITY_MISMATCH, "IDENTITY_MISMATCH"),
        (subcast_core::RATE_LIMITED, "RATE_LIMITED"),
        (subcast_core::SUBSCRIPTION_LIMIT, "SUBSCRIPTION_LIMIT"),
        (subcast_core::INVALID_FILTER, "INVALID_FILTER"),
        (subcast_core::INVALID_DOCUMENT, "GRAPHQL_VALIDATION_FAILED"),
        (subcast_core::BAD_REQUEST, "BAD_REQUEST"),
        (subcast_core::INTERNAL_ERROR, "INTERNAL_ERROR"),
        (subcast_core::EVENTS_LAGGED, "EVENTS_LAGGED"),
        (subcast_core::EVENTS_GAP, "EVENTS_GAP"),
        (subcast_core::QUEUE_OVERFLOW, "QUEUE_OVERFLOW"),
        (subcast_core::RESOLVER_ERROR, "RESOLVER_ERROR"),
        (subcast_core::RESOLVER_PANIC, "RESOLVER_PANIC"),
        (subcast_core::FRAME_TOO_LARGE, "FRAME_TOO_LARGE"),
        (subcast_core::BUS_CHANNEL_LOST, "BUS_CHANNEL_LOST"),
        (subcast_core::NON_OBJECT_DATA, "NON_OBJECT_DATA"),
        (subcast_core::OBJECT_NEEDS_SELECTION, "OBJECT_NEEDS_SELECTION"),
    ];
    for (code, wire) in codes {
        assert_eq!(code, wire);
    }
}

#[test]
fn error_codes_come_from_the_codes_module() {
    let error = subcast_core::Error::Unauthenticated;
    assert_eq!(error.code(), subcast_core::UNAUTHENTICATED);
    assert_eq!(
        error.to_graphql_error().extensions["code"],
        subcast_core::UNAUTHENTICATED
    );
}
