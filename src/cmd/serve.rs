//! `iotchat serve`.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use iotchat::bridge::{self, BridgeConfig, BridgeEvent, BridgeStatus};
use iotchat::config::layer::{FlagPrefix, Prefixed};
use iotchat::config::{
    self, HttpSection, LoadedProfile, ServeConfig, ServeSection, StoreSection, TbFlagNames, TbGiven,
    ThingsboardSection,
};
use iotchat::http::{HttpBind, HttpState};
use iotchat::live::Live;
use iotchat::server::fd_budget::{self, ClientRoom};
use iotchat::server::{self, ServeOptions, console, registry::Registry};
use iotchat::store::Store;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::serve_reload::{Reloadable, resolve, watch_reload};

pub(super) const EXAMPLES: &str = "\
Examples:
  iotchat serve                                  # chat on loopback, port 12000; keeps no readings
  iotchat serve --data-dir iotchat-data          # keeps device readings in iotchat-data/readings.db
  iotchat serve --profile config/m2.toml         # milestone 2: devices on the network, readings kept
  iotchat serve --bind 0.0.0.0:12000             # reachable from devices on the network
  iotchat serve --bind 127.0.0.1:0               # any free port; the address is printed
  iotchat serve --profile config/m1.toml --max-clients 100
  iotchat serve --auth-tokens tokens.txt --data-dir iotchat-data   # devices must say HELLO <name> <token>
  iotchat serve --tls-cert cert.pem --tls-key key.pem
  iotchat serve --http 127.0.0.1:8080            # the dashboard and /metrics on another port
  iotchat serve --http 0.0.0.0:12080 --http-token-file http-token   # dashboard reachable, with a token
  iotchat serve --device-timeout 5m              # a named device silent 5 minutes shows offline
  IOTCHAT_HTTP_TOKEN=$(cat token) iotchat serve --http 0.0.0.0:12080   # reachable from the network

The first line on standard output is `listening on ADDR:PORT`; the third, when the HTTP side
is on, names the dashboard (http://127.0.0.1:12080/ unless --http says otherwise; with the
default port taken, serve warns and has none), which also serves /metrics (Prometheus),
/healthz and /api/. Type commands on the server's
terminal: clients, send ID TEXT, broadcast TEXT, kick ID, help. SIGINT or SIGTERM stops the
server: every client is told `notice: server shutting down`, then it exits 0. SIGHUP reloads
the device tokens and the server's TLS certificate (the ThingsBoard bridge takes a restart).";

/// `iotchat serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Read settings from this TOML profile (flags override it), e.g. config/m1.toml.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeSection,
    #[command(flatten)]
    pub store: StoreSection,
    #[command(flatten, next_help_heading = "HTTP side (or [http] in the profile)")]
    pub http: HttpSection,
    #[command(flatten)]
    pub bridge: Prefixed<ThingsboardSection, TbBridge>,
}

/// `serve`'s flags for its ThingsBoard bridge: `[thingsboard]`'s, named `--tb-*`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TbBridge;

impl FlagPrefix for TbBridge {
    const PREFIX: &'static str = "tb-";
    const HEADING: &'static str = "ThingsBoard bridge (or [thingsboard] in the profile)";
    // The bridge always publishes with QoS 1: it moves on once ThingsBoard has a batch.
    const HIDDEN: &'static [&'static str] = &["qos"];
}

/// Runs `iotchat serve`.
pub async fn run(args: ServeArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let loaded = LoadedProfile::load(args.profile.as_deref())?;
    let config = resolve(args.serve.clone(), &loaded, Some(matches))?;
    let tls = config.tls.as_ref().map(|f| f.acceptor()).transpose()?.map(Live::new);
    // What the descriptor limit allows; `config` keeps the setting, for SIGHUP to compare.
    let max_clients = fit_fd_limit(config.server.max_clients)?;
    let at = loaded.at(Some(matches), "store");
    let dir = config::data_dir(args.store.clone(), loaded.profile.store.clone(), &at)?;
    let store = dir
        .as_ref()
        .map(|dir| Store::open(&dir.value).map_err(|e| super::store_error(e, &dir.origin)))
        .transpose()?;
    let bridge_given = TbGiven::new(args.bridge.section.clone(), TbFlagNames::serve(), Some(matches));
    let advice = Arc::new(super::tb_advice::Words(TbFlagNames::serve()));
    let bridge_config = config::bridge_config(bridge_given, &loaded, advice)?;
    if bridge_config.is_some() && store.is_none() {
        // What turned the bridge on: --tb-host, else the profile's `bridge = true`.
        let origin = match &args.bridge.section.host {
            Some(_) => config::Origin::Flag("--tb-host"),
            None => config::Origin::Profile(loaded.path.clone().unwrap_or_default(), "thingsboard.bridge"),
        };
        return Err(config::ConfigError::Setting {
            origin,
            problem: "the ThingsBoard bridge forwards the readings the server stores, and no store is \
                      kept; give --data-dir DIR (or [store] data_dir in the profile)"
                .into(),
        }
        .into());
    }
    let http = config::http_options(config::Section::merge(
        args.http.clone(),
        loaded.profile.http.clone(),
        &loaded.at(Some(matches), "http"),
    ))?;
    let listener = TcpListener::bind(config.bind).await.map_err(|e| bind_error(e, &config))?;
    let addr = listener.local_addr().context("cannot read the listening address")?;
    let http_listener = match http.bind {
        Some(bind) => http_listen(bind, addr).await?,
        None => None,
    };
    let signals = Signals::install();
    // Scripts and tests wait for this exact line; it is printed before any client can be served.
    let kept = match &store {
        Some(store) => format!("readings stored in {}", store.path().display()),
        None => "readings not kept: chat only (--data-dir DIR keeps them)".to_owned(),
    };
    if let (None, Some(earlier)) = (&store, config::earlier_default_data_dir()) {
        warn!(
            "no data directory given, so readings are not kept; {} holds readings an earlier iotchat kept there by \
             default: --data-dir {} keeps using it",
            earlier.display(),
            earlier.display()
        );
    }
    let dashboard = match http_listener.as_ref().map(TcpListener::local_addr) {
        Some(Ok(at)) => format!("dashboard and /metrics on http://{at}/\n"),
        _ => String::new(),
    };
    announce(&format!("listening on {addr}\n{kept}\n{dashboard}"));
    info!(
        %addr,
        max_clients,
        max_line_bytes = config.server.limits.max_line_bytes,
        idle_flush = %or_off(config.server.limits.idle_flush),
        device_timeout = %or_off(config.server.limits.device_timeout),
        auth_devices = config.server.auth.as_ref().map_or(0, |t| t.current().len()),
        tls = tls.is_some(),
        "server started; type `help` here for console commands"
    );

    let registry = Registry::new();
    // Bound: connections queue from now on, and /healthz says so from its first request.
    registry.counters.set_accepting(true);
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(signals.term, signals.int, shutdown.clone()));
    let bridged = bridge_config.as_ref().map(|_| &loaded.profile.thingsboard);
    tokio::spawn(watch_reload(
        signals.hup,
        Reloadable::new(&args.profile, &args.serve, &config, bridged, tls.clone())
            .with_http(loaded.profile.http.clone()),
    ));
    let (bridge_events, status, bridge_task) = match (bridge_config, &store) {
        (Some(bridge_config), Some(store)) => start_bridge(bridge_config, store, &registry, &shutdown),
        _ => (None, None, None),
    };
    if let Some(listener) = http_listener {
        let state = HttpState {
            registry: registry.clone(),
            store: store.as_ref().map(Store::handle),
            bridge: status.clone(),
            data_dir: dir.map(|dir| dir.value),
        };
        if let Ok(at) = listener.local_addr() {
            tokio::spawn(server::ota::drive(registry.clone(), at, shutdown.clone()));
        }
        tokio::spawn(iotchat::http::serve(listener, state, http.token.clone(), shutdown.clone()));
    }
    tokio::spawn(console::run(registry.clone(), status, tokio::io::stdin(), tokio::io::stdout()));
    let serving = ServeOptions { max_clients, ..config.server.clone() };
    server::run(
        listener,
        &serving,
        registry,
        store.as_ref().map(Store::handle),
        bridge_events,
        tls,
        shutdown,
    )
    .await;
    if let Some(task) = bridge_task {
        // The bridge moves its cursor through the store once the broker has a batch: let it
        // finish that batch before the store closes, or the batch is sent again next start.
        if tokio::time::timeout(BRIDGE_STOP, task).await.is_err() {
            warn!(waited = %humantime::format_duration(BRIDGE_STOP), "the bridge did not stop in time; its last batch will be forwarded again at the next start");
        }
    }
    if let Some(store) = store {
        // Commits what is still queued; blocking, so off the async workers.
        tokio::task::spawn_blocking(move || store.close())
            .await
            .context("the store's closing task failed")?
            .context("could not commit the last readings")?;
    }
    info!("server stopped");
    Ok(())
}

/// The bridge's event queue, its status (for the console) and its task.
type Bridge = (Option<mpsc::Sender<BridgeEvent>>, Option<Arc<BridgeStatus>>, Option<JoinHandle<()>>);

fn start_bridge(
    bridge_config: BridgeConfig,
    store: &Store,
    registry: &Arc<Registry>,
    shutdown: &CancellationToken,
) -> Bridge {
    info!(host = %bridge_config.options.host, port = bridge_config.options.port, "forwarding readings to ThingsBoard");
    let (tx, rx) = mpsc::channel(1024);
    let status = Arc::new(BridgeStatus::new(store.handle()));
    let task = tokio::spawn(bridge::run(
        bridge_config,
        store.handle(),
        rx,
        Arc::clone(registry),
        Arc::clone(&status),
        shutdown.clone(),
    ));
    (Some(tx), Some(status), Some(task))
}

/// Prints the startup lines on standard output. A server whose output cannot be written
/// (closed, or a full disk) serves all the same: it says so in the log.
fn announce(text: &str) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        warn!("cannot write the startup lines to standard output ({e}); serving anyway");
    }
}

/// Binds the HTTP side: an address the user gave must work; the default one, if taken, is
/// given up with a warning (a second server on this machine still serves devices).
async fn http_listen(bind: HttpBind, devices: std::net::SocketAddr) -> anyhow::Result<Option<TcpListener>> {
    match iotchat::http::listen(bind).await {
        Ok(Some(listener)) => Ok(Some(listener)),
        Ok(None) => {
            warn!(
                "{} is taken (another iotchat serve?), so this server has no dashboard or /metrics; \
                 give it another address with --http HOST:PORT (port 0 picks a free one), or --http off",
                bind.addr
            );
            Ok(None)
        }
        Err(e) => {
            let hint = match e.cause.kind() {
                io::ErrorKind::AddrInUse if bind.addr.port() == devices.port() => {
                    "that is the devices' port (--bind); give HTTP another one, such as --http 127.0.0.1:12080"
                }
                io::ErrorKind::AddrInUse => {
                    "another program listens there; pick another port with --http HOST:PORT, or --http off"
                }
                io::ErrorKind::PermissionDenied => "ports below 1024 need root; use a port such as 12080",
                io::ErrorKind::AddrNotAvailable => {
                    "that address is not on this machine; use 127.0.0.1 or 0.0.0.0"
                }
                _ => "check --http",
            };
            Err(anyhow::anyhow!("{e}; {hint}"))
        }
    }
}

/// A duration setting as an operator writes it (`200ms`), or `off`.
fn or_off(setting: Option<Duration>) -> String {
    setting.map_or_else(|| "off".to_owned(), |d| humantime::format_duration(d).to_string())
}

/// How long shutdown waits for the bridge to finish the batch it is sending.
const BRIDGE_STOP: Duration = Duration::from_secs(5);

fn bind_error(e: io::Error, config: &ServeConfig) -> anyhow::Error {
    let hint = match e.kind() {
        io::ErrorKind::AddrInUse => {
            "another program (another iotchat serve?) listens there; stop it or pick another port with --bind"
        }
        io::ErrorKind::PermissionDenied => "ports below 1024 need root; use a port such as 12000",
        io::ErrorKind::AddrNotAvailable => {
            "that address is not on this machine; use 0.0.0.0 (all interfaces) or 127.0.0.1"
        }
        _ => "check --bind",
    };
    anyhow::anyhow!("cannot listen on {}: {e}; {hint}", config.bind)
}

/// The signals `serve` handles, installed before it says it is listening: a signal sent as
/// soon as the address is printed is handled, never the default action (exit).
struct Signals {
    term: io::Result<Signal>,
    int: io::Result<Signal>,
    hup: io::Result<Signal>,
}

impl Signals {
    fn install() -> Self {
        Self {
            term: signal(SignalKind::terminate()),
            int: signal(SignalKind::interrupt()),
            hup: signal(SignalKind::hangup()),
        }
    }
}

/// The first SIGINT/SIGTERM starts a graceful shutdown; a second one exits at once.
async fn watch_signals(term: io::Result<Signal>, int: io::Result<Signal>, shutdown: CancellationToken) {
    let (Ok(mut term), Ok(mut int)) = (term, int) else {
        warn!("cannot watch SIGINT/SIGTERM; stop the server with SIGKILL");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    info!("signal received; shutting down (send it again to exit at once)");
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    warn!("second signal; exiting now");
    std::process::exit(130);
}

/// Serving N clients takes N file descriptors: raises the soft limit toward the hard one and
/// returns how many clients fit under the limit it got (at most `max_clients`), so that one
/// more is told the server is full instead of waiting in the accept queue. Not one: an error.
fn fit_fd_limit(max_clients: usize) -> anyhow::Result<usize> {
    let wanted = fd_budget::wanted(max_clients);
    let limit = match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) => limit,
        Err(e) => {
            warn!(error = %e, "cannot read or raise the file descriptor limit; counting on room for max_clients");
            return Ok(max_clients);
        }
    };
    let raise = format!("ulimit -n {wanted} before starting it, or LimitNOFILE={wanted} in its systemd unit");
    match fd_budget::clients_within(limit, max_clients) {
        ClientRoom::All => Ok(max_clients),
        ClientRoom::Only(room) => {
            warn!(
                "the file descriptor limit is {limit}, room for {room} clients with {} kept for the server, \
                 below max_clients {max_clients}: serving at most {room} at once (one more is told the server \
                 is full); to serve {max_clients}, raise it: {raise}",
                fd_budget::SPARE_FDS
            );
            Ok(room)
        }
        ClientRoom::None => Err(anyhow::anyhow!(
            "the file descriptor limit is {limit} and the server keeps {} for itself: no room for a client; \
             raise it: {raise}",
            fd_budget::SPARE_FDS
        )),
    }
}
