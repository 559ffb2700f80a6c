use super::*;
use crate::config::layer::Section;
use crate::config::layer::tests::{flags, profile};

/// `serve ARGV` with profile text: the tokens, or the error.
fn tokens(argv: &[&str], text: &str) -> Result<Option<Arc<Tokens>>, String> {
    let (given, matches) = flags::<AuthSection>(argv).map_err(|e| e.to_string())?;
    let loaded = profile(text);
    let at = loaded.at(Some(&matches), "serve").child("auth");
    server_tokens(AuthSection::merge(given, loaded.profile.serve.auth.clone(), &at))
        .map_err(|e| e.to_string())
}

#[test]
fn auth_is_off_without_tokens() {
    assert_eq!(tokens(&[], ""), Ok(None));
}

#[test]
fn inline_tokens_turn_auth_on() {
    let tokens = tokens(&[], "[serve.auth.tokens]\nesp-1 = \"abc\"\n").expect("valid");
    assert_eq!(tokens.map(|t| t.len()), Some(1));
}

#[test]
fn bad_tokens_name_the_key_and_not_the_token() {
    let cases: &[(&[&str], &str, &[&str])] = &[
        (
            &[],
            "[serve.auth.tokens]\nesp-1 = \"a b\"\n",
            &["p.toml key serve.auth.tokens", "esp-1", "invalid token"],
        ),
        (&[], "[serve.auth.tokens]\n", &["p.toml key serve.auth.tokens", "lists no device"]),
        (&["--auth-tokens", "/nonexistent/tokens"], "", &["--auth-tokens", "cannot read the tokens file"]),
        (&[], "[serve.auth]\ntokens_file = \"/nonexistent/t\"\n", &["p.toml key serve.auth.tokens_file"]),
    ];
    for (argv, text, needles) in cases {
        let err = tokens(argv, text).expect_err(text);
        assert!(!err.contains("a b"), "{err}");
        for needle in *needles {
            assert!(err.contains(needle), "{err:?} lacks {needle:?}");
        }
    }
}

#[test]
fn a_device_token_from_the_environment_wins_and_is_checked() {
    let names = || ["esp-1".to_owned()];
    let auth = device_auth(Some("tok".into()), None, names()).expect("valid").expect("on");
    assert_eq!(auth.token("esp-1").map(Token::expose), Some("tok"));
    let err = device_auth(Some("a b".into()), None, names()).expect_err("bad").to_string();
    assert!(err.contains(DEVICE_TOKEN_ENV) && !err.contains("a b"), "{err}");
    assert_eq!(device_auth(None, None, names()).expect("valid"), None);
}
