use super::*;
use crate::config::Profile;
use crate::config::{Secret, ThingsboardSection as Sec};
use crate::thingsboard::Credentials;

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

#[test]
fn tls_moves_the_default_port_to_8883_and_a_ca_file_implies_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    let made = rcgen::generate_simple_self_signed(vec!["tb.local".to_owned()]).expect("certificate");
    std::fs::write(&ca, made.cert.pem()).expect("ca.pem");
    let token = || Some(Secret::new("t"));
    let cases = [
        ("plain", given(Sec { token: token(), ..sec() }), "", false, 1883),
        ("--tls", given(Sec { token: token(), tls: Some(true), ..sec() }), "", true, 8883),
        ("--ca", given(Sec { token: token(), ca: Some(ca.clone()), ..sec() }), "", true, 8883),
        ("profile", given(Sec { token: token(), ..sec() }), "[thingsboard]\ntls = true\n", true, 8883),
        (
            "--port wins",
            given(Sec { token: token(), tls: Some(true), port: Some(8884), ..sec() }),
            "",
            true,
            8884,
        ),
    ];
    for (label, flags, profile, tls, port) in cases {
        let options = TbConfig::resolve(flags, &loaded(profile)).expect(label).options;
        assert_eq!((options.tls.is_some(), options.port), (tls, port), "{label}");
    }
    let flags = given(Sec { token: token(), ca: Some(dir.path().join("missing.pem")), ..sec() });
    let err = TbConfig::resolve(flags, &loaded("")).expect_err("a missing CA file is refused");
    assert!(err.to_string().contains("missing.pem") && err.to_string().contains("--ca"), "{err}");
}

#[test]
fn flags_win_and_defaults_fill_in() {
    let p = loaded(
        "[thingsboard]\nhost = \"tb.local\"\nport = 1884\nqos = 0\n[thingsboard.rpc]\ngetInterval = { interval = 1000 }\n",
    );
    let flags = given(Sec { token: Some(" tok ".into()), port: Some(2000), ..sec() });
    let c = TbConfig::resolve(flags, &p).expect("valid");
    assert_eq!((c.options.host.as_str(), c.options.port, c.options.qos), ("tb.local", 2000, 0));
    assert_eq!(c.options.credentials, Credentials::AccessToken("tok".into()));
    assert_eq!(c.options.max_payload, 65_536);
    assert_eq!(c.rpc_replies["getInterval"], serde_json::json!({"interval": 1000}));
}

#[test]
fn the_token_comes_from_a_file_and_is_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, "from-file\n").expect("write");
    let flags = given(Sec { token_file: Some(file), ..sec() });
    let credentials = TbConfig::resolve(flags, &loaded("")).expect("valid").options.credentials;
    assert_eq!(credentials, Credentials::AccessToken("from-file".into()));
    let err = TbConfig::resolve(given(sec()), &loaded("")).expect_err("no token").to_string();
    assert!(err.contains("IOTCHAT_TB_TOKEN") && err.contains("--token-file"), "{err}");
}

#[test]
fn bad_values_are_named() {
    let flags = given(Sec { token: Some("t".into()), qos: Some(2), ..sec() });
    assert!(TbConfig::resolve(flags, &loaded("")).expect_err("qos 2").to_string().contains("--qos"));
    let flags = given(Sec { token: Some("t".into()), ..sec() });
    let err = TbConfig::resolve(flags, &loaded("[thingsboard]\nqos = 2\n")).expect_err("qos 2").to_string();
    assert!(err.contains("thingsboard.qos"), "{err}");
}

#[test]
fn shared_attributes_default_to_interval_and_are_checked() {
    let flags = || TbGiven {
        flags: Sec { host: Some("tb".into()), token: Some("t".into()), ..sec() },
        names: TbFlagNames::serve(),
        ..TbGiven::default()
    };
    let keys = |profile: &str| {
        let advice = Arc::new(NoAdvice);
        bridge_config(flags(), &loaded(profile), advice).map(|c| c.expect("bridge on").shared_attributes)
    };
    assert_eq!(keys("").expect("default"), ["interval"]);
    assert!(keys("[thingsboard]\nshared_attributes = []\n").expect("none").is_empty());
    let twice =
        keys("[thingsboard]\nshared_attributes = [\"interval\", \"led\", \"interval\"]\n").expect("valid");
    assert_eq!(twice, ["interval", "led"]);
    let many: Vec<String> = (0..33).map(|n| format!("\"k{n}\"")).collect();
    let err = keys(&format!("[thingsboard]\nshared_attributes = [{}]\n", many.join(","))).expect_err("33");
    assert!(err.to_string().contains("at most 32"), "{err}");
    let same = vec!["\"k\""; 40].join(",");
    assert_eq!(keys(&format!("[thingsboard]\nshared_attributes = [{same}]\n")).expect("one name"), ["k"]);
    let err = keys("[thingsboard]\nshared_attributes = [\" \"]\n").expect_err("blank");
    assert!(err.to_string().contains("thingsboard.shared_attributes"), "{err}");
}

#[test]
fn the_bridges_rate_limits_come_from_the_profile_and_bad_ones_are_named() {
    let flags = || TbGiven {
        flags: Sec { host: Some("tb".into()), token: Some("t".into()), ..sec() },
        names: TbFlagNames::serve(),
        ..TbGiven::default()
    };
    let limits = |profile: &str| {
        let advice = Arc::new(NoAdvice);
        bridge_config(flags(), &loaded(profile), advice).map(|c| c.expect("bridge on").limits)
    };
    assert_eq!(limits("").expect("default"), SessionLimits::default(), "unlimited unless told");
    let given = limits(
        "[thingsboard]\nrate_limits = \"10:1,300:60\"\ndata_point_limits = \"100:1\"\n\
         device_rate_limits = \"5:1\"\ndevice_data_point_limits = \"50:1\"\nmax_in_flight = 8\n",
    )
    .expect("valid");
    assert_eq!(given.gateway.messages, "10:1,300:60".parse().expect("windows"));
    assert_eq!(given.gateway.data_points, "100:1".parse().expect("windows"));
    assert_eq!(given.device.messages, "5:1".parse().expect("windows"));
    assert_eq!(given.device.data_points, "50:1".parse().expect("windows"));
    assert_eq!(given.max_in_flight, Some(8));
    let bad = [
        ("rate_limits = \"10\"", "thingsboard.rate_limits"),
        ("device_data_point_limits = \"0:1\"", "thingsboard.device_data_point_limits"),
        ("max_in_flight = 0", "thingsboard.max_in_flight"),
    ];
    for (line, key) in bad {
        let err = limits(&format!("[thingsboard]\n{line}\n")).expect_err(line).to_string();
        assert!(err.contains(key), "{line}: {err}");
    }
}

/// Advice is the command's (`cmd/tb_advice.rs`); these tests need none.
#[derive(Debug)]
struct NoAdvice;

impl crate::thingsboard::Advice for NoAdvice {
    fn explain(&self, error: &crate::thingsboard::session::TbError) -> String {
        error.to_string()
    }

    fn tls_advice(&self, _: crate::thingsboard::TlsProblem) -> String {
        String::new()
    }
}
