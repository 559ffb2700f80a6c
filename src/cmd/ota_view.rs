//! What `iotchat ota` reads from `GET /api/ota`, and how it shows it.

/// Peer text made safe for a terminal, owned.
fn for_terminal(text: &str) -> String {
    iotchat::text::for_terminal(text).into_owned()
}

/// The answer of `GET /api/ota`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Overview {
    pub(super) rollout: Option<Rollout>,
    pub(super) devices: Vec<Row>,
}

/// The rollout, as far as shown here.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Rollout {
    pub(super) version: String,
    pub(super) size: u64,
    pub(super) md5: String,
    pub(super) wave_size: u64,
    pub(super) wave: u64,
    pub(super) max_failures: u64,
    pub(super) failures: u64,
    pub(super) phase: String,
}

/// One device: kept whole (`--format json` prints it as the server gave it).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub(super) struct Row {
    pub(super) device: String,
    pub(super) version: Option<String>,
    pub(super) target: Option<String>,
    pub(super) state: String,
    pub(super) error: Option<String>,
    pub(super) wave: Option<u64>,
    pub(super) sent: u64,
    pub(super) size: u64,
    pub(super) online: bool,
}

/// Whether nothing more happens to a device in this state.
pub(super) fn is_final(state: &str) -> bool {
    matches!(state, "updated" | "failed" | "skipped")
}

/// `wave 2: 3 downloading, 1 rebooting, 4 updated, 1 failed`.
pub(super) fn summary(targets: &[&Row], wave: u64) -> String {
    let states = ["pending", "downloading", "rebooting", "updated", "failed", "skipped"];
    let counts: Vec<String> = states
        .iter()
        .map(|s| (s, targets.iter().filter(|d| d.state == *s).count()))
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    format!("wave {wave}: {}", counts.join(", "))
}

/// The devices as an aligned table; a download's progress and a failure's reason as DETAIL.
pub(super) fn table(devices: &[Row]) -> String {
    if devices.is_empty() {
        return "no device is connected with a name, and no rollout was started\n".to_owned();
    }
    let dash = |v: &Option<String>| v.as_deref().map_or_else(|| "-".to_owned(), for_terminal);
    let rows: Vec<[String; 5]> = devices
        .iter()
        .map(|d| {
            let detail = match (d.state.as_str(), &d.error) {
                (_, Some(why)) => for_terminal(why),
                ("downloading", None) if d.size > 0 => {
                    format!("{}% of {} bytes", d.sent * 100 / d.size, d.size)
                }
                (_, None) if !d.online => "offline".to_owned(),
                _ => String::new(),
            };
            [for_terminal(&d.device), dash(&d.version), dash(&d.target), d.state.clone(), detail]
        })
        .collect();
    let header = ["DEVICE", "VERSION", "TARGET", "STATE", "DETAIL"].map(str::to_owned);
    let width = |i: usize| rows.iter().chain([&header]).map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2), width(3)];
    let line = |r: &[String; 5]| {
        let cells: Vec<String> = (0..4).map(|i| format!("{:<w$}", r[i], w = widths[i])).collect();
        format!("{}  {}", cells.join("  "), r[4]).trim_end().to_owned() + "\n"
    };
    std::iter::once(&header).chain(&rows).map(line).collect()
}
