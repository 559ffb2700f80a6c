use std::path::PathBuf;
use std::time::Duration;

use iotchat::config::{Profile, Secret};

use super::*;
use crate::cmd::tests::flags;

/// `check ARGV` with profile `path` of `text`, and `token` as `$IOTCHAT_TB_TOKEN`.
fn resolve(argv: &[&str], path: &str, text: &str, token: Option<&str>) -> Result<CheckOptions, String> {
    let (given, matches) = flags::<CheckSection>(argv).map_err(|e| e.to_string())?;
    let loaded =
        LoadedProfile { path: Some(PathBuf::from(path)), profile: Profile::parse(text).expect("valid") };
    let merged =
        CheckSection::merge(given, loaded.profile.check.clone(), &loaded.at(Some(&matches), "check"));
    let tb = TbGiven {
        flags: ThingsboardSection::default(),
        names: TbFlagNames::CHECK,
        env_token: token.map(Secret::new),
        ..TbGiven::default()
    };
    check_options(
        merged,
        tb,
        std::sync::Arc::new(super::super::tb_advice::Words(TbFlagNames::CHECK)),
        &loaded,
    )
    .map_err(|e| e.to_string())
}

#[test]
fn defaults_and_the_milestone_from_the_profile_name() {
    let c = resolve(&[], "config/m1.toml", "", None).expect("ok");
    assert_eq!((c.milestone, c.clients, c.step_timeout), (Milestone::M1, 10, Duration::from_secs(2)));
    assert_eq!(c.server, None);
    assert_eq!(resolve(&[], "mine.toml", "", None).expect("ok").milestone, Milestone::M0);
    assert_eq!(resolve(&["--milestone", "M2"], "m1.toml", "", None).expect("ok").milestone, Milestone::M2);
    let c = resolve(&[], "p.toml", "[check]\nmilestone = \"M1\"\n", None).expect("ok");
    assert_eq!(c.milestone, Milestone::M1, "the profile takes any case, as the flag does");
}

#[test]
fn flags_and_the_profile_set_clients_and_step_timeout() {
    let text = "[check]\nclients = 3\nstep_timeout = \"500ms\"\n";
    let c = resolve(&[], "p.toml", text, None).expect("ok");
    assert_eq!((c.clients, c.step_timeout), (3, Duration::from_millis(500)));
    let c = resolve(&["--clients", "7", "--step-timeout", "1s"], "m1.toml", text, None).expect("ok");
    assert_eq!((c.clients, c.step_timeout), (7, Duration::from_secs(1)), "flags win");
}

#[test]
fn m3_takes_the_broker_from_the_server_flag_or_the_profile() {
    let text = "[thingsboard]\nhost = \"tb.local\"\nport = 1884\nqos = 0\n";
    let tb = resolve(&[], "config/m3.toml", text, Some("tok")).expect("ok").thingsboard.expect("m3");
    assert_eq!((tb.options.host.as_str(), tb.options.port, tb.options.qos), ("tb.local", 1884, 1));
    assert_eq!(tb.options.credentials, iotchat::thingsboard::Credentials::AccessToken(Secret::new("tok")));
    let tb = resolve(&["-s", "127.0.0.1:2000"], "config/m3.toml", text, Some("tok")).expect("ok");
    let options = tb.thingsboard.expect("m3").options;
    assert_eq!((options.host.as_str(), options.port), ("127.0.0.1", 2000));
    assert!(resolve(&[], "m1.toml", "", None).expect("ok").thingsboard.is_none());
}

#[test]
fn bad_values_name_the_flag_or_key() {
    let cases: &[(&[&str], &str, &str, &[&str])] = &[
        (&["--milestone", "m9"], "", "", &["--milestone", "m0, m1, m2, m3"]),
        (&["--milestone", "m3"], "", "", &["IOTCHAT_TB_TOKEN"]),
        (&["--server", "localhost"], "", "", &["--server", "HOST:PORT"]),
        (&["--clients", "5"], "", "", &["--clients: it is for the m1 scenario, and this check runs m0"]),
        (&["--clients", "0", "--milestone", "m1"], "", "", &["--clients", "from 1 to 1000"]),
        (&[], "[check]\nclients = 1001\n", "", &["p.toml key check.clients", "from 1 to 1000"]),
        (&[], "[check]\nstep_timeout = \"1ms\"\n", "", &["check.step_timeout", "from 10ms to 10m"]),
        (&["--step-timeout", "soon"], "", "", &["--step-timeout", "500ms"]),
    ];
    for (argv, text, _, needles) in cases {
        let err = resolve(argv, "p.toml", text, None).expect_err(text);
        for needle in *needles {
            assert!(err.contains(needle), "{argv:?} {text:?}: {err:?} lacks {needle:?}");
        }
    }
    let err = broker_flags(Some("nohost".into())).expect_err("no port").to_string();
    assert!(err.contains("--broker") && err.contains("HOST:PORT"), "{err}");
}
