use std::time::{Duration, Instant};

use super::*;

fn plan(wave: usize, max_failures: usize) -> Plan {
    Plan { version: "2.0".into(), size: 1000, wave, max_failures }
}

fn devices(n: usize) -> Vec<Device> {
    (0..n)
        .map(|i| Device { name: format!("d{i}"), running: Some("1.0".into()), key: format!("k{i}") })
        .collect()
}

impl Rollout {
    fn new_at(plan: Plan, devices: Vec<Device>, now: Instant) -> Self {
        Rollout::new(plan, devices, now, 1_000_000)
    }
}

fn told(r: &mut Rollout) -> Vec<String> {
    std::iter::from_fn(|| r.poll_action()).map(|Action::Tell { device, .. }| device).collect()
}

fn states(r: &Rollout) -> Vec<State> {
    r.targets().iter().map(|t| t.state).collect()
}

/// Fetches, downloads whole and comes back running 2.0.
fn update(r: &mut Rollout, i: usize, now: Instant) {
    assert_eq!(r.fetch(&format!("k{i}"), Some("1.0"), now), Fetch::Image);
    r.fetched(&format!("k{i}"), true, now);
    r.reported(&format!("d{i}"), "2.0", now);
}

#[test]
fn waves_follow_each_other_only_once_the_previous_one_is_back() {
    let now = Instant::now();
    let mut r = Rollout::new_at(plan(2, 0), devices(5), now);
    assert_eq!(told(&mut r), ["d0", "d1"]);
    update(&mut r, 0, now);
    assert_eq!(told(&mut r), Vec::<String>::new(), "d1 is not back yet");
    assert_eq!(r.fetch("k1", Some("1.0"), now), Fetch::Image);
    r.fetched("k1", true, now);
    assert_eq!(states(&r)[1], State::Rebooting);
    assert_eq!(told(&mut r), Vec::<String>::new(), "rebooting is not back");
    r.reported("d1", "2.0", now);
    assert_eq!(told(&mut r), ["d2", "d3"]);
    update(&mut r, 2, now);
    update(&mut r, 3, now);
    assert_eq!(told(&mut r), ["d4"]);
    update(&mut r, 4, now);
    assert_eq!(r.phase(), Phase::Finished);
    assert!(states(&r).iter().all(|s| *s == State::Updated));
}

#[test]
fn a_key_of_a_later_wave_is_unknown_until_its_wave() {
    let now = Instant::now();
    let mut r = Rollout::new_at(plan(1, 0), devices(2), now);
    assert_eq!(r.fetch("k1", Some("1.0"), now), Fetch::Unknown);
    assert_eq!(r.fetch("nope", None, now), Fetch::Unknown);
}

#[test]
fn a_device_running_the_version_is_updated_without_being_told() {
    let now = Instant::now();
    let mut ds = devices(2);
    ds[0].running = Some("2.0".into());
    let mut r = Rollout::new_at(plan(1, 0), ds, now);
    assert_eq!(told(&mut r), ["d1"]);
    assert_eq!(states(&r), [State::Updated, State::Pending]);
}

#[test]
fn a_fetch_from_the_version_gets_not_modified_and_counts_as_updated() {
    let now = Instant::now();
    let mut r = Rollout::new_at(plan(1, 0), devices(1), now);
    assert_eq!(r.fetch("k0", Some("2.0"), now), Fetch::NotModified);
    assert_eq!(r.phase(), Phase::Finished);
    assert_eq!(r.fetch("k0", Some("1.0"), now), Fetch::Unknown, "a key is good for one rollout step");
}

#[test]
fn failures_beyond_the_budget_stop_the_rollout_and_skip_the_rest() {
    let now = Instant::now();
    let mut r = Rollout::new_at(plan(2, 1), devices(6), now);
    told(&mut r);
    r.failed("d0", "HTTP error: 500", now);
    assert_eq!(r.phase(), Phase::Running, "one failure is within the budget");
    update(&mut r, 1, now);
    assert_eq!(told(&mut r), ["d2", "d3"]);
    r.failed("d2", "Update error: MD5 check failed", now);
    assert_eq!(r.phase(), Phase::Stopping, "d3 was told and still finishes");
    assert_eq!(states(&r)[4..], [State::Skipped, State::Skipped]);
    update(&mut r, 3, now);
    assert_eq!(r.phase(), Phase::Stopped);
    assert_eq!(r.failures(), 2);
    assert_eq!(r.targets()[2].error.as_deref(), Some("the device says: Update error: MD5 check failed"));
    assert_eq!(told(&mut r), Vec::<String>::new());
}

#[test]
fn each_way_of_failing_says_why() {
    let start = Instant::now();
    let later = start + TELL_TIMEOUT + Duration::from_secs(1);
    type Act = fn(&mut Rollout, Instant);
    let cases: [(&str, Act); 6] = [
        ("not connected when its wave came", |r, now| {
            r.untold("d0");
            r.handle_timeout(now);
        }),
        ("did not fetch its image within 2 minutes", |r, now| r.handle_timeout(now)),
        ("its download broke off after 300 of 1000 bytes", |r, now| {
            r.fetch("k0", Some("1.0"), now);
            r.progress("k0", 300);
            r.fetched("k0", false, now);
        }),
        ("its download took more than 10 minutes", |r, now| {
            r.fetch("k0", Some("1.0"), now);
            r.handle_timeout(now + DOWNLOAD_TIMEOUT);
        }),
        ("came back running 1.0, not 2.0", |r, now| {
            r.fetch("k0", Some("1.0"), now);
            r.fetched("k0", true, now);
            r.reported("d0", "1.0", now);
        }),
        ("did not come back running 2.0 within 5 minutes", |r, now| {
            r.fetch("k0", Some("1.0"), now);
            r.fetched("k0", true, now);
            r.handle_timeout(now + RETURN_TIMEOUT);
        }),
    ];
    for (why, act) in cases {
        let mut r = Rollout::new_at(plan(1, 0), devices(2), start);
        act(&mut r, later);
        let t = &r.targets()[0];
        assert_eq!(t.state, State::Failed, "{why}");
        assert!(t.error.as_deref().is_some_and(|e| e.contains(why)), "{why}: {:?}", t.error);
        assert_eq!(r.phase(), Phase::Stopped, "{why}");
        assert_eq!(r.targets()[1].state, State::Skipped, "{why}");
    }
}

#[test]
fn a_device_away_when_told_is_told_when_it_connects() {
    let now = Instant::now();
    let mut r = Rollout::new_at(plan(1, 0), devices(1), now);
    told(&mut r);
    r.untold("d0");
    r.failed("d0", "ignored: it was never told", now);
    assert_eq!(states(&r), [State::Pending]);
    r.arrived("d0", now);
    assert_eq!(told(&mut r), ["d0"]);
    r.arrived("d0", now);
    assert_eq!(told(&mut r), Vec::<String>::new(), "told once");
}

#[test]
fn the_deadline_is_the_earliest_of_the_devices() {
    let now = Instant::now();
    let mut r = Rollout::new_at(plan(2, 5), devices(2), now);
    assert_eq!(r.poll_timeout(), Some(now + TELL_TIMEOUT));
    r.fetch("k0", Some("1.0"), now);
    assert_eq!(r.poll_timeout(), Some(now + TELL_TIMEOUT), "d1 is still to fetch");
    r.fetched("k0", true, now);
    assert_eq!(r.poll_timeout(), Some(now + TELL_TIMEOUT));
    update(&mut r, 1, now);
    assert_eq!(r.poll_timeout(), Some(now + RETURN_TIMEOUT));
    r.reported("d0", "2.0", now);
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn told_and_done_times_are_on_the_wall_clock() {
    let now = Instant::now();
    let mut r = Rollout::new_at(plan(1, 0), devices(2), now);
    update(&mut r, 0, now + Duration::from_millis(1500));
    let t = r.targets();
    assert_eq!((t[0].told_ms, t[0].done_ms), (Some(1_000_000), Some(1_001_500)));
    assert_eq!(t[1].told_ms, Some(1_001_500), "wave 2 told when wave 1 was done");
}
