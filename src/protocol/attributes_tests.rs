use super::super::reading::{MAX_ATTRIBUTES, Meaning, ReadingError, Value, classify, classify_unnamed};

fn attributes(values: &[(&str, Value)]) -> Meaning {
    Meaning::Attributes(values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

#[test]
fn health_lines_are_attributes_in_pairs_or_json() {
    use Value::*;
    let cases: Vec<(&str, Meaning)> = vec![
        (
            "HEALTH rssi=-61 heap=31240 frag=12 uptime=3600 reset=Power_On fw=1.2.0",
            attributes(&[
                ("rssi", Int(-61)),
                ("heap", Int(31240)),
                ("frag", Int(12)),
                ("uptime", Int(3600)),
                ("reset", Text("Power_On".into())),
                ("fw", Text("1.2.0".into())),
            ]),
        ),
        (
            r#"HEALTH {"rssi":-61,"reset":"Power On","fw":"1.2.0"}"#,
            attributes(&[
                ("rssi", Int(-61)),
                ("reset", Text("Power On".into())),
                ("fw", Text("1.2.0".into())),
            ]),
        ),
        ("  HEALTH\trssi=-1  ", attributes(&[("rssi", Int(-1))])),
        // Chat that starts with the word stays chat: no pairs, no JSON after it.
        ("HEALTH IS GOOD", Meaning::Chat),
        (
            "HEALTHY",
            Meaning::Reading(super::super::reading::Reading {
                ts: None,
                values: vec![("value".into(), Text("HEALTHY".into()))],
            }),
        ),
    ];
    for (input, want) in cases {
        assert_eq!(classify(input), Ok(want), "{input:?}");
    }
    // Lower case is no keyword: as before, a word then pairs is no reading.
    assert_eq!(classify("health rssi=1"), Err(ReadingError::NotAPair("health".into())));
    assert_eq!(classify("HEALTH"), Err(ReadingError::NoAttributes), "not the reading value=HEALTH");
}

#[test]
fn malformed_health_lines_get_one_error_each() {
    let many: String = (0..=MAX_ATTRIBUTES).map(|i| format!("k{i}=1")).collect::<Vec<_>>().join(" ");
    let many = format!("HEALTH {many}");
    let long = format!("HEALTH fw={}", "x".repeat(4097));
    let cases: Vec<(&str, &str, ReadingError)> = vec![
        ("empty value", "HEALTH rssi=", ReadingError::EmptyValue("rssi".into())),
        ("not a pair", "HEALTH rssi=1 heap", ReadingError::NotAPair("heap".into())),
        ("ts", "HEALTH rssi=1 ts=1763900000000", ReadingError::AttributeTs),
        ("json ts", r#"HEALTH {"rssi":1,"ts":5}"#, ReadingError::AttributeTs),
        ("only ts", "HEALTH ts=5", ReadingError::AttributeTs),
        ("empty object", "HEALTH {}", ReadingError::NoAttributes),
        ("duplicate", "HEALTH a=1 a=2", ReadingError::DuplicateKey("a".into())),
        ("nested", r#"HEALTH {"a":[1]}"#, ReadingError::NestedJson("a".into())),
        ("not finite", "HEALTH a=inf", ReadingError::NotFinite("inf".into())),
        ("too many", &many, ReadingError::TooManyAttributes),
        ("too long", &long, ReadingError::ValueTooLong("fw".into())),
    ];
    for (name, input, want) in cases {
        assert_eq!(classify(input), Err(want.clone()), "{name}");
        // As with readings, a client without HELLO whose line is only partly pairs chats.
        let unnamed = if name == "not a pair" { Ok(Meaning::Chat) } else { Err(want) };
        assert_eq!(classify_unnamed(input), unnamed, "{name} (unnamed)");
    }
    assert!(matches!(classify(r#"HEALTH {"a":"#), Err(ReadingError::BadJson(_))));
}

#[test]
fn an_unnamed_chat_client_saying_health_in_words_chats() {
    assert_eq!(classify_unnamed("HEALTH IS GOOD"), Ok(Meaning::Chat));
    assert_eq!(classify_unnamed("HEALTH"), Ok(Meaning::Chat));
}
