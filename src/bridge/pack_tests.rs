use super::*;
use crate::protocol::reading::Value;

fn row(device: &str, key: &str, value: Value, ts: i64) -> Row {
    Row { device: device.into(), key: key.into(), value, ts: Some(ts), received_at: ts + 5 }
}

/// `n` readings of `keys` keys each, from `devices` devices in turn, ids from 1.
fn readings(n: i64, keys: usize, devices: usize) -> Vec<(i64, Row)> {
    let mut rows = Vec::new();
    for r in 0..n {
        let device = format!("dev{}", r as usize % devices);
        for k in 0..keys {
            let id = rows.len() as i64 + 1;
            rows.push((id, row(&device, &format!("k{k}"), Value::Int(r), 1000 + r)));
        }
    }
    rows
}

/// Which reading (device, ts) each data point of each publish belongs to.
fn readings_in(publish: &Publish) -> Vec<(String, i64)> {
    let body: Json = serde_json::from_slice(&publish.payload).expect("json");
    let mut seen = Vec::new();
    for (device, entries) in body.as_object().expect("object") {
        for entry in entries.as_array().expect("array") {
            let ts = entry["ts"].as_i64().expect("ts");
            for _ in entry["values"].as_object().expect("values") {
                seen.push((device.clone(), ts));
            }
        }
    }
    seen
}

const BIG: Limits = Limits { max_bytes: 65_536, max_points: 100_000 };

#[test]
fn a_batch_boundary_never_separates_rows_of_one_reading() {
    let one_row = estimate(&readings(1, 1, 1)[0].1);
    // (case, readings, keys per reading, devices, limits)
    let cases = [
        ("count limit inside the 2nd reading", 10, 3, 1, Limits { max_points: 5, ..BIG }),
        ("count limit one short of two readings", 10, 4, 2, Limits { max_points: 7, ..BIG }),
        ("count limit exactly two readings", 10, 4, 3, Limits { max_points: 8, ..BIG }),
        ("size limit inside a reading", 20, 3, 2, Limits { max_bytes: 2 + one_row * 4, ..BIG }),
        ("size limit of 2.5 readings", 20, 5, 1, Limits { max_bytes: 2 + one_row * 12 + 7, ..BIG }),
        ("both limits", 50, 6, 4, Limits { max_bytes: 2 + one_row * 20, max_points: 13 }),
        ("everything fits", 30, 3, 3, BIG),
    ];
    for (case, n, keys, devices, limits) in cases {
        let rows = readings(n, keys, devices);
        let (publishes, dropped) = telemetry(&rows, limits);
        assert_eq!(dropped, 0, "{case}");
        let mut seen: Vec<(String, i64)> = Vec::new();
        for p in &publishes {
            assert!(p.payload.len() <= limits.max_bytes, "{case}: {} bytes", p.payload.len());
            assert!(p.total_points() as usize <= limits.max_points, "{case}");
            let here = readings_in(p);
            assert_eq!(here.len() as u64, p.total_points(), "{case}");
            for reading in &here {
                let count = here.iter().filter(|r| *r == reading).count();
                assert_eq!(count, keys, "{case}: reading {reading:?} cut in a publish");
                assert!(!seen.contains(reading), "{case}: reading {reading:?} in two publishes");
            }
            seen.extend(here);
        }
        assert_eq!(seen.len(), rows.len(), "{case}: every row sent");
        assert_eq!(publishes.last().map(|p| p.last_id), Some(rows.len() as i64), "{case}");
    }
}

#[test]
fn a_reading_over_a_limit_alone_goes_in_publishes_of_its_own() {
    let mut rows = readings(1, 2, 1);
    let big: Vec<(i64, Row)> =
        (0..9).map(|k| (3 + k, row("big", &format!("k{k}"), Value::Int(k), 5000))).collect();
    rows.extend(big);
    rows.push((12, row("dev0", "k0", Value::Int(1), 6000)));
    let (publishes, _) = telemetry(&rows, Limits { max_points: 4, ..BIG });
    let points: Vec<u64> = publishes.iter().map(Publish::total_points).collect();
    assert_eq!(points, vec![2, 4, 4, 1, 1], "the big reading shares with nobody");
    assert!(publishes[1..4].iter().all(|p| p.points.keys().eq(["big"])));
}

#[test]
fn points_are_counted_per_device() {
    let rows = readings(3, 2, 2);
    let (publishes, _) = telemetry(&rows, BIG);
    let want: BTreeMap<String, u64> = [("dev0".to_owned(), 4), ("dev1".to_owned(), 2)].into();
    assert_eq!(publishes[0].points, want);
}

#[test]
fn a_full_batch_holds_its_last_reading_back_for_the_next() {
    let three = readings(3, 3, 1);
    // (case, rows read, was the read limit reached, rows kept)
    let cases = [
        ("not full: all kept", &three[..8], false, 8),
        ("full, ends inside a reading", &three[..8], true, 6),
        ("full, ends on a reading's end", &three[..9], true, 6),
        ("full, one reading only: sent as is", &three[..2], true, 2),
        ("empty", &three[..0], true, 0),
    ];
    for (case, rows, full, kept) in cases {
        let mut batch = rows.to_vec();
        whole_readings(&mut batch, full);
        assert_eq!(batch.len(), kept, "{case}");
    }
}

#[test]
fn rows_group_by_device_and_timestamp_in_order() {
    let rows = vec![
        (1, row("A", "temp", Value::Float(21.5), 1000)),
        (2, row("A", "hum", Value::Int(40), 1000)),
        (3, row("B", "door", Value::Text("open".into()), 1000)),
        (4, row("A", "temp", Value::Float(21.6), 2000)),
    ];
    let (publishes, dropped) = telemetry(&rows, BIG);
    assert_eq!((publishes.len(), dropped), (1, 0));
    assert_eq!(publishes[0].last_id, 4);
    let body: Json = serde_json::from_slice(&publishes[0].payload).expect("json");
    assert_eq!(
        body,
        json!({
            "A": [{"ts": 1000, "values": {"temp": 21.5, "hum": 40}}, {"ts": 2000, "values": {"temp": 21.6}}],
            "B": [{"ts": 1000, "values": {"door": "open"}}]
        })
    );
}

#[test]
fn two_values_of_one_key_with_one_timestamp_are_both_sent() {
    let rows = vec![(1, row("A", "t", Value::Int(1), 7)), (2, row("A", "t", Value::Int(2), 7))];
    let (publishes, _) = telemetry(&rows, BIG);
    let body: Json = serde_json::from_slice(&publishes[0].payload).expect("json");
    assert_eq!(body, json!({"A": [{"ts": 7, "values": {"t": 1}}, {"ts": 7, "values": {"t": 2}}]}));
}

#[test]
fn a_row_that_can_never_fit_is_dropped_and_counted() {
    let small = Limits { max_bytes: 1024, ..BIG };
    let blob = || row("A", "blob", Value::Text("x".repeat(5000)), 1);
    let (publishes, dropped) = telemetry(&[(1, blob()), (2, row("A", "t", Value::Int(1), 2))], small);
    assert_eq!(dropped, 1);
    assert_eq!(publishes.len(), 1);
    assert_eq!(publishes[0].last_id, 2);
    let (publishes, dropped) = telemetry(&[(1, row("A", "t", Value::Int(1), 0)), (2, blob())], small);
    assert_eq!(dropped, 1);
    let ids: Vec<(i64, bool)> = publishes.iter().map(|p| (p.last_id, p.payload.is_empty())).collect();
    assert_eq!(ids, vec![(1, false), (2, true)], "an empty publish still moves the cursor past it");
}
