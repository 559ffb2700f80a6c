use super::*;

fn windows(s: &str) -> Windows {
    s.parse().expect("valid windows")
}

fn limits(messages: &str, points: &str, device_messages: &str, device_points: &str) -> SessionLimits {
    SessionLimits {
        gateway: RateLimits { messages: windows(messages), data_points: windows(points) },
        device: RateLimits { messages: windows(device_messages), data_points: windows(device_points) },
        max_payload: None,
        max_in_flight: None,
    }
}

fn telemetry(device: &str, points: u64) -> Cost {
    Cost::telemetry([(device.to_owned(), points)].into())
}

/// Asks `budget` at each step's millisecond; `Ok(())` or `Err(ms)`: when to ask again, in ms
/// from the start.
fn run(budget_limits: SessionLimits, steps: &[(u64, Cost, Result<(), u64>)], case: &str) {
    let t0 = Instant::now();
    let mut budget = Budget::new(budget_limits, t0);
    for (i, (at, cost, want)) in steps.iter().enumerate() {
        let now = t0 + Duration::from_millis(*at);
        let got = budget.try_spend(now, cost).map_err(|when| (when - t0).as_millis() as u64);
        assert_eq!(&got, want, "{case}: step {i} at {at} ms ({cost:?})");
    }
}

#[test]
fn windows_parse_and_errors_name_the_value() {
    let ok = [
        ("10:1", vec![(10, 1)]),
        ("10:1,300:60", vec![(10, 1), (300, 60)]),
        (" 10:1 , 300:60 ", vec![(10, 1), (300, 60)]),
        ("", vec![]),
    ];
    for (text, want) in ok {
        let got: Vec<(u64, u64)> = windows(text).0.iter().map(|w| (w.capacity, w.seconds)).collect();
        assert_eq!(got, want, "{text:?}");
    }
    let bad = [
        ("10", "\"10\" is not capacity:seconds"),
        ("10:1,x:60", "\"x:60\" is not capacity:seconds"),
        ("10:-1", "\"10:-1\" is not"),
        ("10:1:2", "\"10:1:2\" is not"),
        ("0:1", "\"0:1\" has a capacity or period of 0"),
        ("10:0", "\"10:0\" has a capacity or period of 0"),
    ];
    for (text, want) in bad {
        let err = text.parse::<Windows>().expect_err(text).to_string();
        assert!(err.contains(want) && err.contains(&format!("rate limit \"{text}\"")), "{text}: {err}");
    }
}

#[test]
fn buckets_let_80_percent_through_at_once_then_pace() {
    let m = Cost::message;
    let eight_at_once: Vec<(u64, Cost, Result<(), u64>)> = (0..8).map(|_| (0, m(), Ok(()))).collect();
    let mut one_window = eight_at_once.clone();
    one_window.extend([
        (0, m(), Err(125)), // 8 per second: one token every 125 ms
        (100, m(), Err(125)),
        (125, m(), Ok(())),
        (125, m(), Err(250)),
        (1_125, m(), Ok(())), // a second idle: the bucket refilled (to 8, not more)
    ]);
    one_window.extend((0..7).map(|_| (1_125, m(), Ok(()))));
    one_window.push((1_125, m(), Err(1_250)));
    run(limits("10:1", "", "", ""), &one_window, "10:1");

    // 10:1,20:10: the 10 s window (16 at 80%, 1.6 per second) binds after two bursts.
    let mut two_windows = eight_at_once;
    two_windows.push((0, m(), Err(125)));
    two_windows.extend((0..8).map(|_| (1_000, m(), Ok(())))); // 10 s bucket: 16 - 8 + 1.6 - 8
    two_windows.extend((0..3).map(|_| (2_000, m(), Ok(())))); // 1.6 + 1.6 - 3 = 0.2 left
    two_windows.extend([(2_000, m(), Err(2_500)), (2_500, m(), Ok(()))]);
    run(limits("10:1,20:10", "", "", ""), &two_windows, "10:1,20:10");
}

#[test]
fn data_points_and_messages_are_separate_buckets() {
    let cases = [
        (
            "points bind before messages",
            limits("100:1", "10:1", "", ""),
            vec![
                (0, telemetry("A", 5), Ok(())),
                (0, telemetry("A", 3), Ok(())),
                (0, telemetry("A", 2), Err(250)),
            ],
        ),
        (
            "a message without points ignores the point bucket",
            limits("100:1", "10:1", "", ""),
            vec![
                (0, telemetry("A", 8), Ok(())),
                (0, Cost::for_device("A"), Ok(())),
                (0, telemetry("A", 1), Err(125)),
            ],
        ),
        (
            "messages bind before points",
            limits("2:1", "100:1", "", ""),
            vec![(0, telemetry("A", 1), Ok(())), (0, telemetry("A", 1), Err(625))],
        ),
    ];
    for (case, l, steps) in cases {
        run(l, &steps, case);
    }
}

#[test]
fn each_device_has_its_own_budget_beside_the_gateways() {
    let cases = [
        (
            "device limits: one device paced, another not",
            limits("", "", "2:1", ""),
            vec![
                (0, Cost::for_device("A"), Ok(())),
                (0, Cost::for_device("A"), Err(625)),
                (0, Cost::for_device("B"), Ok(())),
                (0, Cost::message(), Ok(())),
                (625, Cost::for_device("A"), Ok(())),
            ],
        ),
        (
            "the gateway's limit counts every device",
            limits("2:1", "", "10:1", ""),
            vec![
                (0, Cost::for_device("A"), Ok(())),
                (0, Cost::for_device("B"), Err(625)),
                (625, Cost::for_device("B"), Ok(())),
            ],
        ),
        (
            "device data points",
            limits("", "", "", "10:1"),
            vec![
                (0, Cost::telemetry([("A".into(), 8), ("B".into(), 1)].into()), Ok(())),
                (0, telemetry("B", 7), Ok(())),
                (0, telemetry("A", 1), Err(125)),
            ],
        ),
    ];
    for (case, l, steps) in cases {
        run(l, &steps, case);
    }
}

#[test]
fn a_message_bigger_than_a_bucket_goes_alone_when_it_is_full() {
    let steps = vec![
        (0, telemetry("A", 1), Ok(())),
        (0, telemetry("A", 20), Err(125)), // waits for a full bucket (8), not for 20
        (125, telemetry("A", 20), Ok(())),
        (125, telemetry("A", 1), Err(1_750)), // 12 in debt + 1: 13 tokens at 8 per second
    ];
    run(limits("", "10:1", "", ""), &steps, "20 points through a 10:1 bucket");
    let budget = Budget::new(limits("", "10:1,300:60", "", "50:1"), Instant::now());
    assert_eq!(budget.max_points_per_message(), 8, "the bridge packs at most this many");
    assert_eq!(Budget::new(SessionLimits::default(), Instant::now()).max_points_per_message(), usize::MAX);
}

#[test]
fn no_limits_let_everything_through() {
    let steps: Vec<_> = (0..1000).map(|_| (0, telemetry("A", 1000), Ok(()))).collect();
    run(SessionLimits::default(), &steps, "unlimited");
    assert_eq!(Budget::new(SessionLimits::default(), Instant::now()).messages_per_second(), None);
    let paced = Budget::new(limits("10:1,300:60", "", "", ""), Instant::now());
    assert_eq!(paced.messages_per_second(), Some(4.0));
}

#[test]
fn session_limits_answers_replace_the_gateways_limits() {
    let given = limits("100:1", "", "5:1", "");
    let answer = br#"{"maxPayloadSize":32768,"maxInflightMessages":50,
        "rateLimits":{"messages":"1:1","telemetryMessages":"","telemetryDataPoints":""},
        "gatewayRateLimits":{"messages":"20:1","telemetryMessages":"10:1,300:60","telemetryDataPoints":"100:1"}}"#;
    let got = given.clone().with_answer(answer).expect("valid");
    assert_eq!(got.gateway.messages, windows("20:1,10:1,300:60"));
    assert_eq!(got.gateway.data_points, windows("100:1"));
    assert_eq!(got.device, given.device, "per-device limits are not in the answer");
    assert_eq!((got.max_payload, got.max_in_flight), (Some(32_768), Some(50)));
    let device_only = given.clone().with_answer(br#"{"rateLimits":{"messages":"3:1"}}"#).expect("valid");
    assert_eq!(device_only.gateway.messages, windows("3:1"));
    let bad =
        [(&b"nope"[..], "getSessionLimits answer"), (br#"{"rateLimits":{"messages":"3"}}"#, "\"3\" is not")];
    for (payload, want) in bad {
        let err = given.clone().with_answer(payload).expect_err(want).to_string();
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn new_limits_mid_session_start_empty_once_anything_was_spent() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    let mut fresh = Budget::new(SessionLimits::default(), t0);
    fresh.replace(limits("10:1", "", "", ""), t0);
    assert_eq!(fresh.try_spend(t0, &Cost::message()), Ok(()), "nothing sent yet: full");

    let mut used = Budget::new(limits("", "", "5:1", ""), t0);
    assert_eq!(used.try_spend(t0, &Cost::for_device("A")), Ok(()));
    used.replace(limits("10:1", "", "5:1", ""), ms(0));
    assert_eq!(used.try_spend(ms(0), &Cost::message()), Err(ms(125)), "empty: paced from the start");
    assert_eq!(used.try_spend(ms(125), &Cost::message()), Ok(()));

    // Device buckets survive new limits that leave the device's unchanged.
    let mut devices = Budget::new(limits("", "", "5:1", ""), t0);
    for _ in 0..4 {
        assert_eq!(devices.try_spend(t0, &Cost::for_device("A")), Ok(()));
    }
    devices.replace(limits("100:1", "", "5:1", ""), t0);
    assert_eq!(devices.try_spend(t0, &Cost::for_device("A")), Err(ms(250)), "A's bucket kept");
    devices.replace(limits("", "", "50:1", ""), t0);
    assert_eq!(devices.try_spend(t0, &Cost::for_device("A")), Ok(()), "new device limits: new buckets");
}

#[test]
fn slowed_divides_capacities_and_stretches_windows_too_small_to_divide() {
    let slowed = limits("20:1,300:60", "200:1", "3:1", "").slowed(4);
    assert_eq!(slowed, limits("5:1,75:60", "50:1", "1:2", ""));
    assert_eq!(limits("20:1", "", "", "").slowed(1), limits("20:1", "", "", ""));
    assert_eq!(SessionLimits::default().slowed(1), SessionLimits::default(), "unlimited until closed");
    assert_eq!(
        SessionLimits::default().slowed(2),
        limits("5:1", "", "", ""),
        "closed while unlimited: from ThingsBoard Cloud's strictest 10:1, halved"
    );
}
