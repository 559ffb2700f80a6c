use super::*;

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| (*s).to_owned()).collect()
}

fn sent(asking: &mut Asking, now: Instant) -> Vec<(String, String)> {
    std::iter::from_fn(|| asking.next_request(now)).map(|r| (r.device, r.key)).collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(d, k)| ((*d).to_owned(), (*k).to_owned())).collect()
}

#[test]
fn one_request_per_key_and_answers_match_id_and_device() {
    let now = Instant::now();
    let mut asking = Asking::new(keys(&["interval", "led"]));
    asking.device("A");
    asking.device("A"); // queued already
    let first = asking.next_request(now).expect("a request");
    asking.device("A"); // its other key is still queued: no second round
    let second = asking.next_request(now).expect("a request");
    assert_eq!((first.device.as_str(), first.key.as_str()), ("A", "interval"));
    assert_eq!((second.device.as_str(), second.key.as_str()), ("A", "led"));
    assert_eq!(asking.next_request(now), None, "asked once");
    assert_eq!(asking.answered(first.id, "B"), None, "another device's name");
    assert_eq!(asking.answered(first.id, "A").as_deref(), Some("interval"));
    assert_eq!(asking.answered(first.id, "A"), None, "answered once");
    assert_eq!(asking.answered(99, "A"), None, "not ours");
}

#[test]
fn at_most_in_flight_wait_and_timed_out_ones_free_their_place_but_are_still_taken() {
    let now = Instant::now();
    let mut asking = Asking::new(keys(&["interval"]));
    for n in 0..IN_FLIGHT + 10 {
        asking.device(&format!("d{n}"));
    }
    let first: Vec<Request> = std::iter::from_fn(|| asking.next_request(now)).collect();
    assert_eq!(first.len(), IN_FLIGHT);
    assert!(asking.answered(first[0].id, "d0").is_some());
    assert_eq!(sent(&mut asking, now).len(), 1, "an answer frees a place");
    assert_eq!(asking.expire(now + TIMEOUT / 2), 0);
    assert_eq!(asking.expire(now + TIMEOUT), IN_FLIGHT, "counted once");
    assert_eq!(asking.expire(now + TIMEOUT), 0);
    assert_eq!(sent(&mut asking, now + TIMEOUT).len(), 9, "the rest, once the others time out");
    assert_eq!(asking.answered(first[1].id, "d1").as_deref(), Some("interval"), "a late answer is taken");
    asking.expire(now + 2 * TIMEOUT);
    assert_eq!(asking.answered(first[2].id, "d2"), None, "too late");
}

#[test]
fn a_device_that_left_is_not_asked_about_and_its_answers_are_not_taken() {
    let now = Instant::now();
    let mut asking = Asking::new(keys(&["interval", "led"]));
    for device in ["A", "B", "C"] {
        asking.device(device);
    }
    let a = asking.next_request(now).expect("A's first key");
    asking.forget("A");
    asking.forget("C");
    assert_eq!(sent(&mut asking, now), pairs(&[("B", "interval"), ("B", "led")]));
    assert_eq!(asking.answered(a.id, "A"), None);
    asking.device("A"); // back: asked again, from its first key
    assert_eq!(sent(&mut asking, now), pairs(&[("A", "interval"), ("A", "led")]));
}

#[test]
fn a_newer_update_cancels_the_answer_still_to_come() {
    let now = Instant::now();
    let mut asking = Asking::new(keys(&["interval", "led"]));
    asking.device("A");
    let interval = asking.next_request(now).expect("a request");
    let led = asking.next_request(now).expect("a request");
    asking.superseded("A", "interval");
    assert_eq!(asking.answered(interval.id, "A"), None);
    assert_eq!(asking.answered(led.id, "A").as_deref(), Some("led"));
}

#[test]
fn no_keys_means_no_requests() {
    let mut asking = Asking::new(Vec::new());
    asking.device("A");
    assert!(!asking.is_on());
    assert_eq!(asking.next_request(Instant::now()), None);
}
