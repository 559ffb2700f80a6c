use super::*;
use crate::config::{Profile, TbConfig, TbGiven, ThingsboardSection as Sec};
use std::path::Path;

fn sec() -> Sec {
    Sec::default()
}

/// The command's flags, nothing in the environment, `tb-publish`'s names.
fn given(flags: Sec) -> TbGiven {
    TbGiven { flags, ..TbGiven::default() }
}

fn loaded(text: &str) -> LoadedProfile {
    LoadedProfile { path: Some("p.toml".into()), profile: Profile::parse(text).expect("valid") }
}

/// A client certificate and its key, made for the test, in `dir`.
fn identity_files(dir: &Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["device-1".to_owned()]).expect("certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("cert.pem");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("key.pem");
    (cert, key)
}

/// The credentials and whether TLS is on, or the error's text.
fn resolve(flags: TbGiven, profile: &str) -> Result<(Credentials, bool), String> {
    TbConfig::resolve(flags, &loaded(profile))
        .map(|c| (c.options.credentials, c.options.tls.is_some()))
        .map_err(|e| e.to_string())
}

fn basic(c: Option<&str>, u: Option<&str>, p: Option<&str>) -> Credentials {
    Credentials::Basic {
        client_id: c.map(Secret::from),
        username: u.map(Into::into),
        password: p.map(Secret::from),
    }
}

fn token(t: &str) -> Credentials {
    Credentials::AccessToken(Secret::new(t))
}

struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    /// Holds `from-file`.
    password: PathBuf,
    /// Holds `file-token`.
    token: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = identity_files(dir.path());
    let (password, token) = (dir.path().join("pw"), dir.path().join("token"));
    std::fs::write(&password, "from-file\nignored\n").expect("pw");
    std::fs::write(&token, "file-token\n").expect("token");
    Files { _dir: dir, cert, key, password, token }
}

#[test]
fn each_kind_of_credentials_resolves_from_flags_environment_or_profile() {
    let f = files();
    let cert_profile =
        format!("[thingsboard]\ncert = \"{}\"\nkey = \"{}\"\n", f.cert.display(), f.key.display());
    let pw_profile =
        format!("[thingsboard]\nusername = \"u1\"\npassword_file = \"{}\"\n", f.password.display());
    let none = || given(sec());
    let cases: Vec<(&str, TbGiven, String, Credentials, bool)> = vec![
        ("token flag", given(Sec { token: Some("t".into()), ..sec() }), String::new(), token("t"), false),
        (
            "token from the environment",
            TbGiven { flags: sec(), env_token: Some("e".into()), ..TbGiven::default() },
            String::new(),
            token("e"),
            false,
        ),
        (
            "client id alone",
            given(Sec { client_id: Some("c1".into()), ..sec() }),
            String::new(),
            basic(Some("c1"), None, None),
            false,
        ),
        (
            "all three from flags",
            given(Sec {
                client_id: Some("c1".into()),
                username: Some("u1".into()),
                password: Some("p".into()),
                ..sec()
            }),
            String::new(),
            basic(Some("c1"), Some("u1"), Some("p")),
            false,
        ),
        (
            "username and password file from the profile",
            none(),
            pw_profile,
            basic(None, Some("u1"), Some("from-file")),
            false,
        ),
        (
            "certificate from flags implies TLS",
            given(Sec { cert: Some(f.cert.clone()), key: Some(f.key.clone()), ..sec() }),
            String::new(),
            Credentials::Certificate,
            true,
        ),
        ("certificate from the profile", none(), cert_profile, Credentials::Certificate, true),
    ];
    for (label, flags, profile, want, tls) in cases {
        assert_eq!(resolve(flags, &profile), Ok((want, tls)), "{label}");
    }
}

#[test]
fn the_command_line_then_the_profile_then_the_environment_names_the_kind() {
    let f = files();
    let token_profile = format!("[thingsboard]\ntoken_file = \"{}\"\n", f.token.display());
    let cert_profile =
        format!("[thingsboard]\ncert = \"{}\"\nkey = \"{}\"\n", f.cert.display(), f.key.display());
    let basic_profile = format!(
        "[thingsboard]\nusername = \"pu\"\nclient_id = \"pc\"\npassword_file = \"{}\"\n",
        f.password.display()
    );
    let cases: Vec<(&str, TbGiven, String, Credentials, bool)> = vec![
        (
            "--username over the profile's token file",
            given(Sec { username: Some("u".into()), password: Some("p".into()), ..sec() }),
            token_profile.clone(),
            basic(None, Some("u"), Some("p")),
            false,
        ),
        (
            "a token in the environment over the profile's token file",
            TbGiven { flags: sec(), env_token: Some("e".into()), ..TbGiven::default() },
            token_profile,
            token("e"),
            false,
        ),
        (
            "the profile's certificate over a token in the environment",
            TbGiven { flags: sec(), env_token: Some("e".into()), ..TbGiven::default() },
            cert_profile.clone(),
            Credentials::Certificate,
            true,
        ),
        (
            "the profile's basic credentials over a token in the environment",
            TbGiven { flags: sec(), env_token: Some("e".into()), ..TbGiven::default() },
            basic_profile.clone(),
            basic(Some("pc"), Some("pu"), Some("from-file")),
            false,
        ),
        (
            "--token over the profile's certificate, which is then neither sent nor TLS",
            given(Sec { token: Some("t".into()), ..sec() }),
            cert_profile.clone(),
            token("t"),
            false,
        ),
        (
            "--client-id does not borrow the profile's username or password",
            given(Sec { client_id: Some("fc".into()), ..sec() }),
            basic_profile,
            basic(Some("fc"), None, None),
            false,
        ),
        (
            "--key with the profile's certificate is a certificate login",
            TbGiven {
                flags: Sec { key: Some(f.key.clone()), ..sec() },
                env_token: Some("e".into()),
                ..TbGiven::default()
            },
            cert_profile,
            Credentials::Certificate,
            true,
        ),
        (
            "--token-file over the environment's token",
            TbGiven {
                flags: Sec { token_file: Some(f.token.clone()), ..sec() },
                env_token: Some("e".into()),
                ..TbGiven::default()
            },
            String::new(),
            token("file-token"),
            false,
        ),
        (
            "--password-file over the environment's password",
            TbGiven {
                flags: Sec { username: Some("u".into()), password_file: Some(f.password.clone()), ..sec() },
                env_password: Some("stale".into()),
                ..TbGiven::default()
            },
            String::new(),
            basic(None, Some("u"), Some("from-file")),
            false,
        ),
        (
            "the environment's password with basic credentials",
            TbGiven {
                flags: Sec { username: Some("u".into()), ..sec() },
                env_password: Some("e".into()),
                ..TbGiven::default()
            },
            String::new(),
            basic(None, Some("u"), Some("e")),
            false,
        ),
        (
            "the environment's password is left alone with a token",
            TbGiven {
                flags: Sec { token: Some("t".into()), ..sec() },
                env_password: Some("e".into()),
                ..TbGiven::default()
            },
            String::new(),
            token("t"),
            false,
        ),
        (
            "and with a client id alone",
            TbGiven {
                flags: Sec { client_id: Some("c".into()), ..sec() },
                env_password: Some("e".into()),
                ..TbGiven::default()
            },
            String::new(),
            basic(Some("c"), None, None),
            false,
        ),
    ];
    for (label, flags, profile, want, tls) in cases {
        assert_eq!(resolve(flags, &profile), Ok((want, tls)), "{label}");
    }
}

#[test]
fn a_certificate_the_kind_does_not_use_is_not_presented() {
    let f = files();
    let profile = format!(
        "[thingsboard]\ntls = true\ncert = \"{}\"\nkey = \"{}\"\n",
        f.cert.display(),
        f.key.display()
    );
    let flags = given(Sec { token: Some("t".into()), ..sec() });
    let tls = TbConfig::resolve(flags, &loaded(&profile)).expect("valid").options.tls.expect("tls = true");
    assert!(!tls.client_auth_cert_resolver.has_certs(), "the profile's certificate was loaded");
    let used = TbConfig::resolve(given(sec()), &loaded(&profile)).expect("valid").options.tls.expect("tls");
    assert!(used.client_auth_cert_resolver.has_certs());
}

#[test]
fn missing_half_given_or_mixed_credentials_are_refused_by_name() {
    let f = files();
    let other = tempfile::tempdir().expect("tempdir");
    let (_, foreign_key) = identity_files(other.path());
    let empty = other.path().join("empty");
    std::fs::write(&empty, "\n").expect("empty file");
    let mixed_profile = format!(
        "[thingsboard]\ntoken_file = \"t\"\ncert = \"{}\"\nkey = \"{}\"\n",
        f.cert.display(),
        f.key.display()
    );
    let token_and_password =
        format!("[thingsboard]\ntoken_file = \"t\"\npassword_file = \"{}\"\n", f.password.display());
    let none = || given(sec());
    let cases: Vec<(&str, TbGiven, String, &[&str])> = vec![
        (
            "nothing",
            none(),
            String::new(),
            &[
                "IOTCHAT_TB_TOKEN",
                "--token-file",
                "--client-id",
                "--cert",
                "--key",
                "IOTCHAT_TB_PASSWORD",
                "token_file",
            ],
        ),
        (
            "blank token",
            given(Sec { token: Some("  ".into()), ..sec() }),
            String::new(),
            &["--token: the access token is empty"],
        ),
        (
            "empty token file",
            TbGiven {
                flags: Sec { token_file: Some(empty.clone()), ..sec() },
                env_token: Some("e".into()),
                ..TbGiven::default()
            },
            String::new(),
            &["--token-file: the access token is empty"],
        ),
        (
            "empty password file",
            given(Sec { username: Some("u".into()), password_file: Some(empty.clone()), ..sec() }),
            String::new(),
            &["--password-file: the password is empty"],
        ),
        (
            "two kinds on the command line",
            given(Sec { token: Some("t".into()), username: Some("u".into()), ..sec() }),
            String::new(),
            &["--username: an access token (--token) and basic MQTT credentials (--username) are both given"],
        ),
        (
            "two kinds in the profile",
            none(),
            mixed_profile,
            &[
                "an access token (p.toml key thingsboard.token_file) and a client certificate (p.toml key thingsboard.cert)",
            ],
        ),
        (
            "a password flag without a username",
            given(Sec { client_id: Some("c".into()), password: Some("s3cret".into()), ..sec() }),
            String::new(),
            &["--password: a password goes with basic MQTT credentials' username", "add --username NAME"],
        ),
        (
            "a password flag alone",
            given(Sec { password: Some("s3cret".into()), ..sec() }),
            String::new(),
            &["--password: a password goes with"],
        ),
        (
            "a password flag with a token",
            given(Sec { token: Some("t".into()), password: Some("s3cret".into()), ..sec() }),
            String::new(),
            &["--password: a password goes with"],
        ),
        (
            "a password file flag with the environment's token",
            TbGiven {
                flags: Sec { password_file: Some(f.password.clone()), ..sec() },
                env_token: Some("e".into()),
                ..TbGiven::default()
            },
            String::new(),
            &["--password-file: a password goes with"],
        ),
        (
            "the profile's password with its token",
            none(),
            token_and_password,
            &["p.toml key thingsboard.password_file: a password goes with"],
        ),
        (
            "certificate without key",
            given(Sec { cert: Some(f.cert.clone()), ..sec() }),
            String::new(),
            &["--cert: a client certificate needs its private key", "add --key FILE"],
        ),
        (
            "key without certificate",
            given(Sec { key: Some(f.key.clone()), ..sec() }),
            String::new(),
            &["--key: a private key needs its client certificate"],
        ),
        (
            "key of another certificate",
            given(Sec { cert: Some(f.cert.clone()), key: Some(foreign_key.clone()), ..sec() }),
            String::new(),
            &["--key", "does not go with", "cert.pem"],
        ),
        (
            "missing password file",
            given(Sec { username: Some("u".into()), password_file: Some(PathBuf::from("/nope")), ..sec() }),
            String::new(),
            &["--password-file = \"/nope\"", "cannot read the password file"],
        ),
        (
            "empty client id in the profile",
            none(),
            "[thingsboard]\nclient_id = \"\"\n".into(),
            &["p.toml key thingsboard.client_id: the client id is empty"],
        ),
    ];
    for (label, flags, profile, wanted) in cases {
        let err = resolve(flags, &profile).expect_err(label);
        for want in wanted {
            assert!(err.contains(want), "{label}: {err:?} lacks {want:?}");
        }
        assert!(!err.contains("s3cret") && !err.contains("= \"\""), "{label}: {err}");
    }
}

#[test]
fn an_unusable_certificate_or_key_is_blamed_on_its_own_file() {
    let f = files();
    let dir = tempfile::tempdir().expect("tempdir");
    // Well-formed PEM around DER that is no certificate, and no key.
    let (bad_cert, bad_key) = (dir.path().join("bad-cert.pem"), dir.path().join("bad-key.pem"));
    let garbage = "MIIBCgKCAQEAq83vAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    std::fs::write(&bad_cert, format!("-----BEGIN CERTIFICATE-----\n{garbage}\n-----END CERTIFICATE-----\n"))
        .expect("cert");
    std::fs::write(&bad_key, format!("-----BEGIN PRIVATE KEY-----\n{garbage}\n-----END PRIVATE KEY-----\n"))
        .expect("key");
    let cert_err = resolve(given(Sec { cert: Some(bad_cert), key: Some(f.key.clone()), ..sec() }), "")
        .expect_err("not a certificate");
    assert!(
        cert_err.starts_with("--cert = ") && cert_err.contains("not a usable client certificate"),
        "{cert_err}"
    );
    let key_err = resolve(given(Sec { cert: Some(f.cert.clone()), key: Some(bad_key), ..sec() }), "")
        .expect_err("not a key");
    assert!(key_err.starts_with("--key = ") && key_err.contains("cannot use this key"), "{key_err}");
}

#[test]
fn serves_flags_are_named_in_its_errors() {
    let flags = TbGiven { flags: sec(), names: TbFlagNames::serve(), ..TbGiven::default() };
    let err = resolve(flags, "").expect_err("no credentials");
    for want in
        ["--tb-token-file", "--tb-client-id", "--tb-username", "--tb-password-file", "--tb-cert", "--tb-key"]
    {
        assert!(err.contains(want), "{err} lacks {want}");
    }
}

#[test]
fn a_credentials_table_names_one_kind_and_its_keys() {
    let f = files();
    let token_table =
        format!("[thingsboard.credentials]\nkind = \"token\"\ntoken_file = \"{}\"\n", f.token.display());
    let basic_table = format!(
        "[thingsboard.credentials]\nkind = \"basic\"\nusername = \"u1\"\npassword_file = \"{}\"\n",
        f.password.display()
    );
    let x509 = format!(
        "[thingsboard.credentials]\nkind = \"x509\"\ncert = \"{}\"\nkey = \"{}\"\n",
        f.cert.display(),
        f.key.display()
    );
    let env_token = || TbGiven { flags: sec(), env_token: Some("e".into()), ..TbGiven::default() };
    let cases: Vec<(&str, TbGiven, String, Credentials, bool)> = vec![
        ("token from its file", given(sec()), token_table, token("file-token"), false),
        ("basic", env_token(), basic_table, basic(None, Some("u1"), Some("from-file")), false),
        ("x509, over a token in the environment", env_token(), x509, Credentials::Certificate, true),
        (
            "a token table without a file takes the environment's",
            env_token(),
            "[thingsboard.credentials]\nkind = \"token\"\n".into(),
            token("e"),
            false,
        ),
    ];
    for (label, flags, profile, want, tls) in cases {
        assert_eq!(resolve(flags, &profile), Ok((want, tls)), "{label}");
    }
}

#[test]
fn a_credentials_table_cannot_mix_kinds_nor_repeat_the_older_keys() {
    let mixed =
        Profile::parse("[thingsboard.credentials]\nkind = \"basic\"\nusername = \"u\"\ncert = \"c.pem\"\n")
            .expect_err("a key of another kind");
    assert!(mixed.contains("unknown field `cert`") && mixed.contains("thingsboard.credentials"), "{mixed}");
    let unknown = Profile::parse("[thingsboard.credentials]\nkind = \"oauth\"\n").expect_err("no such kind");
    assert!(unknown.contains("token") && unknown.contains("x509"), "{unknown}");
    let twice = "[thingsboard]\ntoken_file = \"t\"\n[thingsboard.credentials]\nkind = \"token\"\ntoken_file = \"t\"\n";
    let err = resolve(given(sec()), twice).expect_err("given twice");
    assert!(err.contains("p.toml key thingsboard.credentials: the credentials are given twice"), "{err}");
    assert!(err.contains("thingsboard.token_file"), "{err}");
    let bare_basic = "[thingsboard.credentials]\nkind = \"basic\"\n";
    let err = resolve(given(sec()), bare_basic).expect_err("no name");
    assert!(
        err.contains("thingsboard.credentials: kind = \"basic\" needs client_id and/or username"),
        "{err}"
    );
    let bare_token = "[thingsboard.credentials]\nkind = \"token\"\n";
    let err = resolve(given(sec()), bare_token).expect_err("no token");
    assert!(
        err.contains("takes the token from --token-file, $IOTCHAT_TB_TOKEN or token_file; none is set"),
        "{err}"
    );
    let flags = Sec { username: Some("u".into()), ..sec() };
    let by_flag = resolve(given(flags), bare_basic).expect("the command line names the login");
    assert_eq!(by_flag, (basic(None, Some("u"), None), false));
    let empty = "[thingsboard.credentials]\nkind = \"token\"\ntoken_file = \"/nope\"\n";
    let err = resolve(given(sec()), empty).expect_err("no file");
    assert!(err.contains("p.toml key thingsboard.credentials.token_file"), "{err}");
}

#[test]
fn flags_of_two_kinds_are_refused_by_the_command_line() {
    use crate::config::layer::tests::flags;
    for argv in [
        &["--token", "t", "--username", "u"][..],
        &["--token-file", "f", "--cert", "c"],
        &["--password", "p", "--key", "k"],
    ] {
        let err = flags::<Sec>(argv).expect_err("two kinds").to_string();
        assert!(err.contains("cannot be used with"), "{argv:?}: {err}");
    }
    assert!(flags::<Sec>(&["--client-id", "c", "--username", "u", "--password", "p"]).is_ok());
}
