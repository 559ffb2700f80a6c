//! What one connection costs in memory, checked so it does not creep back: 10,000 devices
//! must fit in 32 MiB (issue 20), and the task's future and its registry entry are most of a
//! connection's bytes.

use super::*;
use crate::protocol::session::Limits;

const LIMITS: Limits = Limits {
    max_line_bytes: 64 * 1024,
    idle_flush: Some(Duration::from_millis(200)),
    line_timeout: Some(Duration::from_secs(30)),
    idle_timeout: None,
    device_timeout: Some(Duration::from_secs(60)),
    max_ts_ahead: Duration::from_secs(86_400),
};

/// Bytes the task's future may take (the size in a test build; in release it is a little
/// smaller, and tokio's cell around it ~140 bytes bigger): 784 now, 1,808 with the TLS
/// handshake, the slow write path, the store, a `StoreError` and the arguments' copies inline.
const MAX_TASK_FUTURE: usize = 800;

#[tokio::test]
async fn a_connection_task_stays_small() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let _client = TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
    let (stream, peer) = listener.accept().await.expect("accept");
    let shared = Arc::new(Shared {
        limits: LIMITS,
        write_timeout: Some(Duration::from_secs(30)),
        registry: super::super::registry::Registry::new(),
        store: None,
        bridge: None,
        auth: None,
        tls: None,
    });
    let permit = Arc::new(tokio::sync::Semaphore::new(1)).try_acquire_owned().expect("a place");
    let (registration, _) = shared.registry.register(peer);
    let handle = Arc::clone(registration.handle());
    let mut session = Session::new(LIMITS, "127.0.0.1", Instant::now().into_std());
    let mut presence = Presence::default();
    let mut transport =
        Transport::Plain(TcpStream::connect(listener.local_addr().expect("addr")).await.expect("2nd"));
    let serving = serve(&mut transport, &mut session, &registration, &shared, &mut presence);
    let serve_size = std::mem::size_of_val(&serving);
    drop(serving);
    let settling = settle(Event::Silent, &mut session, &registration, &shared, &[], &mut presence);
    let settle_size = std::mem::size_of_val(&settling);
    drop(settling);
    let shutdown_size = std::mem::size_of_val(&transport.shutdown());
    let mut out = Vec::new();
    let flush_size =
        std::mem::size_of_val(&super::super::flush::flush(&mut transport, &mut out, &handle, None));
    let open_size = std::mem::size_of_val(&super::super::transport::open(
        TcpStream::connect(listener.local_addr().expect("addr")).await.expect("3rd"),
        None,
        &handle,
    ));
    let sizes = [
        (
            "run",
            std::mem::size_of_val(&run(Transport::Plain(stream), registration, Arc::clone(&shared), permit)),
        ),
        ("serve", serve_size),
        ("settle", settle_size),
        ("flush", flush_size),
        ("open", open_size),
        ("shutdown", shutdown_size),
        ("Session", std::mem::size_of::<Session>()),
        ("Sleep", std::mem::size_of::<tokio::time::Sleep>()),
        ("Ended", std::mem::size_of::<Ended>()),
        ("Transport", std::mem::size_of::<Transport>()),
        ("ClientHandle", std::mem::size_of::<ClientHandle>()),
    ];
    eprintln!("connection sizes (bytes): {sizes:?}");
    assert!(sizes[0].1 <= MAX_TASK_FUTURE, "the connection's future grew: {sizes:?}");
}
