use super::*;
use crate::config::Profile;

fn loaded(text: &str) -> LoadedProfile {
    LoadedProfile { path: Some(PathBuf::from("p.toml")), profile: Profile::parse(text).expect("valid") }
}

#[test]
fn auth_is_off_without_tokens() {
    assert_eq!(server_tokens(None, &loaded("")).expect("valid"), None);
}

#[test]
fn inline_tokens_turn_auth_on() {
    let tokens = server_tokens(None, &loaded("[serve.auth.tokens]\nesp-1 = \"abc\"\n")).expect("valid");
    assert_eq!(tokens.map(|t| t.len()), Some(1));
}

#[test]
fn bad_inline_tokens_name_the_key_and_not_the_token() {
    let err = server_tokens(None, &loaded("[serve.auth.tokens]\nesp-1 = \"a b\"\n")).expect_err("bad");
    let text = err.to_string();
    assert!(text.contains("p.toml key serve.auth.tokens") && text.contains("esp-1"), "{text}");
    assert!(text.contains("invalid token") && !text.contains("a b"), "{text}");
}

#[test]
fn tls_needs_both_files() {
    let err = server_tls(Some("c.pem".into()), None, &loaded("")).expect_err("half");
    assert!(err.to_string().contains("--tls-cert") && err.to_string().contains("--tls-key"), "{err}");
    let files = server_tls(None, None, &loaded("[serve.tls]\ncert = \"c\"\nkey = \"k\"\n")).expect("valid");
    assert_eq!(files.map(|f| f.key.path), Some(PathBuf::from("k")));
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
