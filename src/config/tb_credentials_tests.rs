use super::*;
use crate::config::{Profile, TbConfig, TbOverrides};

fn loaded(text: &str) -> LoadedProfile {
    LoadedProfile { path: Some("p.toml".into()), profile: Profile::parse(text).expect("valid") }
}

/// A client certificate and its key, made for the test.
fn identity_files(dir: &Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["device-1".to_owned()]).expect("certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("cert.pem");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("key.pem");
    (cert, key)
}

fn resolve(flags: TbOverrides, profile: &str) -> Result<(Credentials, bool), String> {
    TbConfig::resolve(flags, &loaded(profile))
        .map(|c| (c.options.credentials, c.options.tls.is_some()))
        .map_err(|e| e.to_string())
}

#[test]
fn each_kind_of_credentials_resolves_from_flags_or_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = identity_files(dir.path());
    let password_file = dir.path().join("pw");
    std::fs::write(&password_file, "s3cret\nignored\n").expect("pw");
    let basic = |c: Option<&str>, u: Option<&str>, p: Option<&str>| Credentials::Basic {
        client_id: c.map(Into::into),
        username: u.map(Into::into),
        password: p.map(Into::into),
    };
    let pw_profile =
        format!("[thingsboard]\nusername = \"u1\"\npassword_file = \"{}\"\n", password_file.display());
    let cert_profile = format!("[thingsboard]\ncert = \"{}\"\nkey = \"{}\"\n", cert.display(), key.display());
    let cases: Vec<(&str, TbOverrides, String, Credentials, bool)> = vec![
        (
            "token",
            TbOverrides { token: Some("t".into()), ..Default::default() },
            String::new(),
            Credentials::AccessToken("t".into()),
            false,
        ),
        (
            "client id alone",
            TbOverrides { client_id: Some("c1".into()), ..Default::default() },
            String::new(),
            basic(Some("c1"), None, None),
            false,
        ),
        (
            "all three from flags",
            TbOverrides {
                client_id: Some("c1".into()),
                username: Some("u1".into()),
                password: Some("p".into()),
                ..Default::default()
            },
            String::new(),
            basic(Some("c1"), Some("u1"), Some("p")),
            false,
        ),
        (
            "username and password file from the profile",
            TbOverrides::default(),
            pw_profile,
            basic(None, Some("u1"), Some("s3cret")),
            false,
        ),
        (
            "certificate from flags implies TLS",
            TbOverrides { cert: Some(cert.clone()), key: Some(key.clone()), ..Default::default() },
            String::new(),
            Credentials::Certificate,
            true,
        ),
        (
            "certificate from the profile",
            TbOverrides::default(),
            cert_profile,
            Credentials::Certificate,
            true,
        ),
    ];
    for (label, flags, profile, want, tls) in cases {
        assert_eq!(resolve(flags, &profile), Ok((want, tls)), "{label}");
    }
}

#[test]
fn missing_half_given_or_mixed_credentials_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = identity_files(dir.path());
    let other = tempfile::tempdir().expect("tempdir");
    let (_, foreign_key) = identity_files(other.path());
    let cases: Vec<(&str, TbOverrides, &str, &[&str])> = vec![
        (
            "nothing",
            TbOverrides::default(),
            "",
            &["--token", "--client-id", "--cert", "--key", "IOTCHAT_TB_TOKEN"],
        ),
        (
            "empty token",
            TbOverrides { token: Some("  ".into()), ..Default::default() },
            "",
            &["needs the device's credentials"],
        ),
        (
            "password without username",
            TbOverrides { client_id: Some("c".into()), password: Some("p".into()), ..Default::default() },
            "",
            &["--password", "goes with a username", "--username"],
        ),
        (
            "token and basic",
            TbOverrides { token: Some("t".into()), username: Some("u".into()), ..Default::default() },
            "",
            &["an access token (--token) and basic MQTT credentials (--username)", "IOTCHAT_TB_TOKEN"],
        ),
        (
            "token and certificate",
            TbOverrides {
                token: Some("t".into()),
                cert: Some(cert.clone()),
                key: Some(key.clone()),
                ..Default::default()
            },
            "",
            &["an access token (--token) and a client certificate (--cert)"],
        ),
        (
            "certificate without key",
            TbOverrides { cert: Some(cert.clone()), ..Default::default() },
            "",
            &["--cert", "needs its private key", "--key"],
        ),
        (
            "key without certificate",
            TbOverrides { key: Some(key.clone()), ..Default::default() },
            "",
            &["--key", "needs its client certificate"],
        ),
        (
            "key of another certificate",
            TbOverrides { cert: Some(cert.clone()), key: Some(foreign_key.clone()), ..Default::default() },
            "",
            &["--key", "does not go with", "cert.pem"],
        ),
        (
            "missing password file",
            TbOverrides {
                username: Some("u".into()),
                password_file: Some(dir.path().join("nope")),
                ..Default::default()
            },
            "",
            &["--password-file", "nope", "cannot read the password file"],
        ),
        (
            "empty client id in the profile",
            TbOverrides::default(),
            "[thingsboard]\nclient_id = \"\"\n",
            &["p.toml key thingsboard.client_id", "must not be empty"],
        ),
    ];
    for (label, flags, profile, wanted) in cases {
        let err = resolve(flags, profile).expect_err(label);
        for want in wanted {
            assert!(err.contains(want), "{label}: {err:?} lacks {want:?}");
        }
        assert!(!err.contains("s3cret"), "{label}: a secret in {err}");
    }
}

#[test]
fn serves_flags_are_named_in_its_errors() {
    let flags = TbOverrides { names: TbFlagNames::SERVE, ..Default::default() };
    let err = resolve(flags, "").expect_err("no credentials");
    for want in
        ["--tb-token-file", "--tb-client-id", "--tb-username", "--tb-password-file", "--tb-cert", "--tb-key"]
    {
        assert!(err.contains(want), "{err} lacks {want}");
    }
}
