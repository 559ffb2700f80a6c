use super::*;

fn reading(ts: Option<i64>, values: &[(&str, Value)]) -> Meaning {
    Meaning::Reading(Reading { ts, values: values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect() })
}

fn hello(name: &str, token: Option<&str>) -> Meaning {
    Meaning::Hello { name: name.into(), token: token.map(|t| Token::new(t).expect("valid token")) }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

#[test]
fn valid_messages() {
    use Value::*;
    let cases: Vec<(&str, Meaning)> = vec![
        ("23.5", reading(None, &[("value", Float(23.5))])),
        ("-4", reading(None, &[("value", Int(-4))])),
        ("open", reading(None, &[("value", text("open"))])),
        ("true", reading(None, &[("value", Bool(true))])),
        (
            "temp=23.5 hum=41 door=open",
            reading(None, &[("temp", Float(23.5)), ("hum", Int(41)), ("door", text("open"))]),
        ),
        (
            "temp=23.5,hum=41;ok=false",
            reading(None, &[("temp", Float(23.5)), ("hum", Int(41)), ("ok", Bool(false))]),
        ),
        ("  a=1 ,; b=2  ", reading(None, &[("a", Int(1)), ("b", Int(2))])),
        ("t=1 ts=1763900000000", reading(Some(1_763_900_000_000), &[("t", Int(1))])),
        ("ts=5 t=1", reading(Some(5), &[("t", Int(1))])),
        (r#"{"temp":23.5,"hum":41}"#, reading(None, &[("temp", Float(23.5)), ("hum", Int(41))])),
        (r#"{"ok":true,"s":"a b","ts":7}"#, reading(Some(7), &[("ok", Bool(true)), ("s", text("a b"))])),
        ("big=99999999999999999999", reading(None, &[("big", Float(1e20))])),
        ("HELLO esp-1", hello("esp-1", None)),
        ("HELLO esp-1 s3cr3t!", hello("esp-1", Some("s3cr3t!"))),
        ("HELLO\tesp-1 \t tok ", hello("esp-1", Some("tok"))),
        (
            r#"RPC 7 {"interval":500}"#,
            Meaning::RpcAnswer { id: 7, result: serde_json::json!({"interval": 500}) },
        ),
        ("RPC 8 true", Meaning::RpcAnswer { id: 8, result: serde_json::json!(true) }),
        ("RPCS", reading(None, &[("value", text("RPCS"))])),
        ("rpc 7 x", Meaning::Chat),
        ("HELLO  kitchen_2.a:b ", hello("kitchen_2.a:b", None)),
        ("hello there", Meaning::Chat),
        ("HELLOWORLD", reading(None, &[("value", text("HELLOWORLD"))])),
        ("two words", Meaning::Chat),
        ("close socket", Meaning::Chat),
        ("", Meaning::Chat),
    ];
    for (input, want) in cases {
        assert_eq!(classify(input), Ok(want), "{input:?}");
    }
}

#[test]
fn a_client_that_never_said_hello_chats_unless_a_line_is_unmistakably_a_reading() {
    use Value::*;
    let chat = Ok(Meaning::Chat);
    let long_word = "w".repeat(MAX_VALUE + 1);
    let cases: Vec<(&str, Result<Meaning, ReadingError>)> = vec![
        // Words are chat, whatever they look like.
        ("yes", chat.clone()),
        ("hello", chat.clone()),
        ("open", chat.clone()),
        ("HELLOWORLD", chat.clone()),
        ("NaN", chat.clone()),
        ("inf", chat.clone()),
        ("1e999", chat.clone()),
        (&long_word, chat.clone()),
        ("RPCS", chat.clone()),
        // Lines that only partly look like pairs are chat.
        ("is 2+2=4 right?", chat.clone()),
        ("x = 5", chat.clone()),
        ("hello there", chat.clone()),
        // Numbers, booleans, pairs and JSON are readings, as from a named device.
        ("23.5", Ok(reading(None, &[("value", Float(23.5))]))),
        ("-4", Ok(reading(None, &[("value", Int(-4))]))),
        ("true", Ok(reading(None, &[("value", Bool(true))]))),
        ("temp=21.5", Ok(reading(None, &[("temp", Float(21.5))]))),
        ("door=open", Ok(reading(None, &[("door", text("open"))]))),
        (r#"{"t":1}"#, Ok(reading(None, &[("t", Int(1))]))),
        // A reading that is wrong is still refused, so its sender can fix it.
        ("temp=1e999", Err(ReadingError::NotFinite("1e999".into()))),
        (r#"{"t":[1]}"#, Err(ReadingError::NestedJson("t".into()))),
        ("HELLO", Err(ReadingError::BadName(String::new()))),
        ("HELLO esp-1", Ok(hello("esp-1", None))),
    ];
    for (input, want) in cases {
        assert_eq!(classify_unnamed(input), want, "{input:?}");
    }
}

#[test]
fn refused_messages_say_why() {
    let cases: &[(&str, &str)] = &[
        ("HELLO", "invalid device name"),
        ("RPC x {}", "not a request id"),
        ("RPC 7", "RPC <id> <json>"),
        ("RPC 7 {nope", "RPC <id> <json>"),
        ("HELLO a b c", "HELLO <name> [<token>]"),
        ("HELLO a! tok", "invalid device name"),
        ("HELLO a tök", "invalid token"),
        ("HELLO bad/name", "invalid device name"),
        ("temp=1 hello", "`hello` is not key=value"),
        ("=5", "invalid key"),
        ("a=1 a=2", "appears twice"),
        ("a=", "has no value"),
        ("x=1e999", "not a finite number"),
        ("x=NaN", "not a finite number"),
        ("inf", "not a finite number"),
        ("ts=soon t=1", "unix milliseconds"),
        ("ts=-1 t=1", "unix milliseconds"),
        ("ts=1", "no values"),
        ("{}", "no values"),
        ("{not json", "invalid JSON"),
        (r#"{"a":{"b":1}}"#, "not a number, boolean or string"),
        (r#"{"a":[1]}"#, "not a number, boolean or string"),
        (r#"{"a":null}"#, "not a number, boolean or string"),
        (r#"{"ts":"x","a":1}"#, "unix milliseconds"),
        (r#"{"a":1,"a":2}"#, "appears twice"),
    ];
    for (input, want) in cases {
        let err = classify(input).expect_err(input).to_string();
        assert!(err.contains(want), "{input:?}: {err}");
    }
}

#[test]
fn hostile_input_is_bounded_and_refused() {
    let thousands: String = (0..5000).map(|i| format!("k{i}=1 ")).collect();
    assert_eq!(classify(&thousands), Err(ReadingError::TooManyPairs));

    let huge_key = format!("{}=1", "k".repeat(100_000));
    let err = classify(&huge_key).expect_err("huge key");
    assert!(err.to_string().len() < 400, "error lines stay short");

    let huge_value = format!("k={}", "v".repeat(MAX_VALUE + 1));
    assert_eq!(classify(&huge_value), Err(ReadingError::ValueTooLong("k".into())));

    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    assert!(
        matches!(classify(&deep), Err(ReadingError::BadJson(_))),
        "deep JSON is refused, not recursed into"
    );

    let json_pairs: String =
        format!("{{{}}}", (0..5000).map(|i| format!("\"k{i}\":1")).collect::<Vec<_>>().join(","));
    assert_eq!(classify(&json_pairs), Err(ReadingError::TooManyPairs));

    assert!(matches!(classify("a=\u{0}b"), Ok(Meaning::Reading(_))), "NUL in a value is text");
    assert!(matches!(classify("k\u{1}=1"), Err(ReadingError::BadKey(_))));
    assert!(matches!(classify(&format!("HELLO {}", "n".repeat(1000))), Err(ReadingError::BadName(_))));
}

#[test]
fn a_bare_word_over_the_value_limit_is_refused() {
    // Found by `cargo fuzz run reading` (fuzz/regressions/reading/bare-word-over-max-value).
    let long = "a".repeat(MAX_VALUE + 1);
    assert_eq!(classify(&long), Err(ReadingError::ValueTooLong("value".into())));
    let at_limit = "a".repeat(MAX_VALUE);
    assert!(matches!(classify(&at_limit), Ok(Meaning::Reading(_))));
}

#[test]
fn error_texts_cut_multibyte_characters_safely() {
    let key = "é".repeat(200);
    let err = classify(&format!("{key}=1")).expect_err("long key");
    assert!(err.to_string().contains("invalid key"));
}

/// Every Unicode bidirectional control ("Trojan Source", CVE-2021-42574): none is
/// `char::is_control`, and each can make a key display as another one.
const BIDI_CONTROLS: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

#[test]
fn bidi_controls_in_keys_are_refused_like_control_characters() {
    for c in BIDI_CONTROLS {
        let key = format!("temp{c}_1");
        let cases = [
            ("pairs", format!("{key}=1")),
            ("pairs, leading", format!("{c}t=1")),
            ("JSON", format!("{{\"{key}\":1}}")),
            ("JSON escape", format!("{{\"t\\u{:04x}\":1}}", c as u32)),
        ];
        for (how, line) in cases {
            let err = classify(&line).expect_err(&format!("{how} {line:?}"));
            assert!(matches!(err, ReadingError::BadKey(_)), "{how} U+{:04X}: {err:?}", c as u32);
            let text = err.to_string();
            assert!(!text.contains(c), "{how}: the error line escapes it: {text:?}");
            assert!(text.contains(&format!("\\u{{{:x}}}", c as u32)), "{how}: names it: {text:?}");
        }
        assert!(
            matches!(classify(&format!("HELLO esp{c}1")), Err(ReadingError::BadName(_))),
            "names are ASCII only"
        );
        assert!(matches!(classify(&format!("t=a{c}b")), Ok(Meaning::Reading(_))), "in a value it is text");
    }
}

#[test]
fn the_fast_chat_path_reads_lines_as_the_full_rules_do() {
    // Lines with several words and no `=` skip the full rules unless they may be a keyword or JSON.
    let cases: [(&str, Meaning); 8] = [
        ("hello there", Meaning::Chat),
        ("a,b", Meaning::Chat),
        ("x;y", Meaning::Chat),
        (" 2 3 ", Meaning::Chat),
        ("HEALTH IS GOOD", Meaning::Chat),
        ("OTA FAILED no room", Meaning::OtaFailed("no room".into())),
        ("RPC 1 true", Meaning::RpcAnswer { id: 1, result: serde_json::json!(true) }),
        ("HELLO esp-1", Meaning::Hello { name: "esp-1".into(), token: None }),
    ];
    for (line, want) in cases {
        assert_eq!(classify_unnamed(line), Ok(want), "{line:?}");
    }
}
