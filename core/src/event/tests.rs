use super::*;
use serde_json::json;

#[test]
fn wire_round_trip_keeps_every_field() {
    let event = Event::new("userCreated", "users", json!({"b": 1, "a": [true, null]}))
        .with_tenant("t1")
        .with_correlation_id("c1");
    let back = Event::from_wire(&event.to_wire()).unwrap();
    assert_eq!(back, event);
    assert_eq!(
        serde_json::to_string(&back.data).unwrap(),
        r#"{"b":1,"a":[true,null]}"#
    );
}

#[test]
fn wire_with_unknown_version_is_refused() {
    let mut wire: Value = serde_json::from_slice(&Event::new("t", "c", json!({})).to_wire()).unwrap();
    wire["v"] = json!(2);
    let err = Event::from_wire(wire.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("unknown wire version 2"), "{err}");
}

#[test]
fn garbage_bytes_are_refused_as_wire_events() {
    assert!(matches!(
        Event::from_wire(b"\xff\x00garbage"),
        Err(Error::InvalidWireEvent(_))
    ));
    assert!(matches!(
        Event::from_wire(br#"{"v":1,"id":3}"#),
        Err(Error::InvalidWireEvent(_))
    ));
}

#[test]
fn wire_event_with_invalid_channel_is_refused() {
    let event = Event::new("t", "", json!({}));
    assert!(matches!(
        Event::from_wire(&event.to_wire()),
        Err(Error::InvalidWireEvent(_))
    ));
}

#[test]
fn channel_names_over_255_bytes_are_refused() {
    assert!(validate_channel(&"x".repeat(255)).is_ok());
    assert!(matches!(
        validate_channel(&"x".repeat(256)),
        Err(Error::InvalidChannel {
            reason: "longer than 255 bytes",
            ..
        })
    ));
    assert!(validate_channel("a\0b").is_err());
    assert!(validate_channel("quotes \" spaces; DROP TABLE x; -- ünïcode").is_ok());
}

#[test]
fn data_over_the_limit_is_refused() {
    let event = Event::new("t", "c", json!({"s": "x".repeat(100)}));
    assert!(event.validate(1000).is_ok());
    assert!(matches!(
        event.validate(50),
        Err(Error::EventTooLarge { limit: 50, .. })
    ));
}

#[test]
fn a_clone_with_new_data_is_measured_anew() {
    let small = Event::new("t", "c", json!({"s": "x"}));
    assert!(small.validate(100).is_ok());
    let mut big = small.clone();
    big.data = json!({"s": "x".repeat(200)});
    assert!(matches!(big.validate(100), Err(Error::EventTooLarge { .. })));
}

#[test]
fn data_replaced_after_validation_is_measured_anew() {
    let mut event = Event::new("t", "c", json!({"s": "x"}));
    assert!(event.validate(100).is_ok());
    event.data = json!({"s": "x".repeat(200)});
    assert!(matches!(event.validate(100), Err(Error::EventTooLarge { .. })));
}

/// `depth` nested arrays around a scalar.
fn nested(depth: usize) -> Value {
    let mut value = json!("leaf");
    for level in 0..depth {
        value = if level % 2 == 0 {
            json!([value])
        } else {
            json!({"k": value})
        };
    }
    value
}

#[test]
fn data_at_the_depth_limit_round_trips_through_the_wire() {
    let event = Event::new("t", "c", nested(MAX_EVENT_DEPTH));
    assert!(event.validate(1 << 20).is_ok());
    assert_eq!(Event::from_wire(&event.to_wire()).unwrap(), event);
}

#[test]
fn data_one_level_past_the_depth_limit_is_refused_when_publishing() {
    let event = Event::new("t", "c", nested(MAX_EVENT_DEPTH + 1));
    assert!(matches!(
        event.validate(1 << 20),
        Err(Error::EventTooDeep {
            limit: MAX_EVENT_DEPTH
        })
    ));
    assert!(matches!(event.validate_wire(), Err(Error::EventTooDeep { .. })));
}

#[test]
fn data_one_level_past_the_depth_limit_is_refused_when_decoding() {
    let event = Event::new("t", "c", nested(MAX_EVENT_DEPTH + 1));
    let err = Event::from_wire(&event.to_wire()).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidWireEvent(m) if m.contains("nested deeper")),
        "{err}"
    );
}

#[test]
fn data_far_deeper_than_the_stack_allows_is_refused_without_overflowing() {
    let mut deep = Value::Null;
    for _ in 0..200_000 {
        deep = Value::Array(vec![deep]);
    }
    let event = Event::new("t", "c", deep);
    assert!(matches!(
        event.validate(usize::MAX),
        Err(Error::EventTooDeep { .. })
    ));
    assert_eq!(event.data_size(), 400_004);
    // Dropping a `Value` recurses: unwind it by hand so the test thread's stack survives.
    let mut data = event.data;
    while let Value::Array(mut items) = data {
        data = items.pop().unwrap_or(Value::Null);
    }
}

#[test]
fn measured_size_equals_serde_json_encoding() {
    let values = [
        json!(null),
        json!([]),
        json!({}),
        json!([[], {}, [[]]]),
        json!({"a": [1, -2, 3.5, 1e300, u64::MAX, i64::MIN], "b": {"c": true, "d": false}}),
        json!({"quote\"key": "tab\t nl\n nul\u{0} bell\u{7} ünïcödé \\ / \u{7f}"}),
        json!(["", "x", 0.1, -0.0, 12345678901234567890u64]),
    ];
    for value in values {
        assert_eq!(
            measure_json(&value, usize::MAX),
            Some(serde_json::to_vec(&value).unwrap().len()),
            "{value}"
        );
    }
}

#[test]
fn ids_over_the_limit_are_refused_on_both_sides() {
    let long = "x".repeat(MAX_EVENT_ID_LEN + 1);
    let at_limit = Event::new("t", "c", json!({})).with_id("x".repeat(MAX_EVENT_ID_LEN));
    assert!(Event::from_wire(&at_limit.to_wire()).is_ok());
    let events = [
        Event::new("t", "c", json!({})).with_id(long.clone()),
        Event::new(long.clone(), "c", json!({})),
        Event::new("t", "c", json!({})).with_tenant(long.clone()),
        Event::new("t", "c", json!({})).with_correlation_id(long.clone()),
    ];
    for event in events {
        assert!(matches!(event.validate(1 << 20), Err(Error::InvalidId { .. })));
        assert!(matches!(
            Event::from_wire(&event.to_wire()),
            Err(Error::InvalidWireEvent(_))
        ));
    }
}

#[test]
fn generated_ids_are_unique_and_carry_the_origin() {
    let a = Event::new("t", "c", Value::Null);
    let b = Event::new("t", "c", Value::Null);
    assert_ne!(a.id, b.id);
    assert!(a.id.starts_with(node_id()));
    assert_eq!(a.origin, node_id());
}
