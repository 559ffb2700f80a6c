use super::*;

fn token(text: &str) -> Token {
    Token::new(text).expect("valid token")
}

#[test]
fn constant_time_eq_is_plain_equality() {
    let cases: &[(&[u8], &[u8], bool)] = &[
        (b"", b"", true),
        (b"abc", b"abc", true),
        (b"abc", b"abd", false),
        (b"abc", b"xbc", false),
        (b"abc", b"ab", false),
        (b"ab", b"abc", false),
        (b"", b"a", false),
        (b"a\0", b"a", false),
    ];
    for (a, b, want) in cases {
        assert_eq!(constant_time_eq(a, b), *want, "{a:?} vs {b:?}");
    }
}

#[test]
fn debug_never_shows_a_token() {
    let t = token("hunter2");
    assert!(!format!("{t:?}").contains("hunter2"));
    let mut tokens = Tokens::default();
    tokens.insert("esp-1", "hunter2").expect("valid");
    assert!(!format!("{tokens:?}").contains("hunter2"));
}

#[test]
fn check_tells_accepted_wrong_and_unknown_apart() {
    let tokens = Tokens::parse("esp-1 s3cret\nesp-2 other\n").expect("valid");
    let cases = [
        ("esp-1", "s3cret", Verdict::Accepted),
        ("esp-2", "other", Verdict::Accepted),
        ("esp-1", "other", Verdict::WrongToken),
        ("esp-1", "s3cre", Verdict::WrongToken),
        ("esp-1", "s3crett", Verdict::WrongToken),
        ("esp-3", "s3cret", Verdict::UnknownName),
        ("ESP-1", "s3cret", Verdict::UnknownName),
    ];
    for (name, t, want) in cases {
        assert_eq!(tokens.check(name, &token(t)), want, "{name} {t}");
    }
}

#[test]
fn a_tokens_file_skips_comments_and_blank_lines() {
    let text = "# devices\n\n  esp-1   tok-1  \n\tesp-2\ttok-2\r\n# esp-3 tok-3\n";
    let tokens = Tokens::parse(text).expect("valid");
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens.get("esp-1"), Some(&token("tok-1")));
    assert_eq!(tokens.get("esp-2"), Some(&token("tok-2")));
    assert_eq!(tokens.get("esp-3"), None);
}

#[test]
fn bad_tokens_files_name_the_line_and_never_the_token() {
    let cases: &[(&str, TokensError)] = &[
        ("esp-1\n", TokensError::NotAPair(1)),
        ("# c\nesp-1 tok extra-secret\n", TokensError::NotAPair(2)),
        ("bad/name secret-1\n", TokensError::BadName(1)),
        ("esp-1 sécret\n", TokensError::BadToken(1)),
        (
            "esp-1 secret-1\nesp-1 secret-2\n",
            TokensError::Duplicate { line: 2, name: "esp-1".into(), first: 1 },
        ),
    ];
    for (text, want) in cases {
        let err = Tokens::parse(text).expect_err(text);
        assert_eq!(&err, want, "{text:?}");
        let shown = err.to_string();
        for secret in ["secret", "sécret"] {
            assert!(!shown.contains(secret), "{text:?}: {shown:?} shows the token");
        }
    }
}
