use super::*;

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn register_count_and_remove() {
    let reg = Registry::new();
    let (tx, _rx) = mpsc::channel(4);
    let (a, n) = reg.register(peer(1), tx.clone(), CancellationToken::new());
    assert_eq!(n, 1);
    let (b, n) = reg.register(peer(2), tx, CancellationToken::new());
    assert_eq!(n, 2);
    assert_ne!(a.handle().id, b.handle().id);
    a.record(3, 30, std::time::Instant::now());
    let infos = reg.snapshot();
    assert_eq!((infos[0].messages, infos[0].bytes_in), (3, 30));
    assert_eq!(b.remove(), 1);
    drop(a);
    assert!(reg.is_empty());
}

#[test]
fn push_reports_unknown_full_and_gone_clients() {
    let reg = Registry::new();
    // One place for pushes, one kept for the stop.
    let (tx, rx) = mpsc::channel(2);
    let (r, _) = reg.register(peer(1), tx, CancellationToken::new());
    let id = r.handle().id;
    let hi = Push::Operator("hi".into());
    assert_eq!(reg.push(id + 100, hi.clone()), Err(PushError::NoSuchClient(id + 100)));
    assert_eq!(reg.push(id, hi.clone()), Ok(()));
    assert_eq!(reg.push(id, hi.clone()), Err(PushError::Full(id)));
    drop(rx);
    let (delivered, failed) = reg.push_all(&hi);
    assert_eq!((delivered, failed), (0, vec![PushError::Gone(id)]));
}

#[test]
fn kick_reaches_a_client_whose_queue_is_full() {
    let reg = Registry::new();
    let (tx, mut rx) = mpsc::channel(2);
    let server = CancellationToken::new();
    let (r, _) = reg.register(peer(1), tx, server.child_token());
    let id = r.handle().id;
    reg.push(id, Push::Operator("fills the queue".into())).expect("queued");
    assert_eq!(reg.push(id, Push::Operator("no room".into())), Err(PushError::Full(id)));
    assert_eq!(reg.kick(id), Ok(()));
    assert_eq!(r.handle().stop_reason(), Some(StopReason::Kicked));
    assert!(matches!(rx.try_recv(), Ok(Push::Operator(_))));
    assert!(matches!(rx.try_recv(), Ok(Push::Stop)), "the stop has its own place in the queue");
    assert_eq!(reg.kick(id), Ok(()), "a second kick is harmless");
    assert!(rx.try_recv().is_err(), "and sends nothing more");
    assert!(!server.is_cancelled(), "a kick stops one client, not the server");
    assert_eq!(reg.kick(id + 1), Err(PushError::NoSuchClient(id + 1)));
}

#[test]
fn stop_all_tells_every_client_it_is_shutdown() {
    let reg = Registry::new();
    let server = CancellationToken::new();
    let mut queues = Vec::new();
    let mut regs = Vec::new();
    for i in 0..3 {
        let (tx, rx) = mpsc::channel(2);
        regs.push(reg.register(peer(i), tx, server.child_token()).0);
        queues.push(rx);
    }
    server.cancel();
    reg.stop_all();
    for (r, rx) in regs.iter().zip(&mut queues) {
        assert!(matches!(rx.try_recv(), Ok(Push::Stop)));
        assert_eq!(r.handle().stop_reason(), None, "no reason: shutdown");
    }
}

#[tokio::test]
async fn a_client_whose_task_panics_leaves_the_registry() {
    let reg = Registry::new();
    let (tx, _rx) = mpsc::channel(1);
    let task_reg = Arc::clone(&reg);
    let task = tokio::spawn(async move {
        let (_registration, _) = task_reg.register(peer(1), tx, CancellationToken::new());
        panic!("a bug in one connection");
    });
    assert!(task.await.expect_err("the task panicked").is_panic());
    assert!(reg.is_empty());
}

#[test]
fn the_newest_connection_with_a_name_wins() {
    let reg = Registry::new();
    let (tx, _rx) = mpsc::channel(1);
    let (old, _) = reg.register(peer(1), tx.clone(), CancellationToken::new());
    let (new, _) = reg.register(peer(2), tx, CancellationToken::new());
    assert_eq!(reg.claim_name(old.handle().id, "esp-1"), None);
    assert_eq!(reg.claim_name(new.handle().id, "esp-1"), Some(old.handle().id));
    assert_eq!(old.handle().stop_reason(), Some(StopReason::Replaced));
    assert_eq!(new.handle().stop_reason(), None);
    let names: Vec<_> = reg.snapshot().into_iter().map(|i| i.name).collect();
    assert_eq!(names, vec![None, Some("esp-1".to_owned())]);
}

#[test]
fn a_name_shows_in_the_snapshot() {
    let reg = Registry::new();
    let (tx, _rx) = mpsc::channel(1);
    let (r, _) = reg.register(peer(1), tx, CancellationToken::new());
    r.handle().set_name("esp-1".into());
    assert_eq!(reg.snapshot()[0].name.as_deref(), Some("esp-1"));
}
