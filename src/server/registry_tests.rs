use super::*;

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn register_count_and_remove() {
    let reg = Registry::new();
    let (a, n) = reg.register(peer(1));
    assert_eq!(n, 1);
    let (b, n) = reg.register(peer(2));
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
    let (r, _) = reg.register(peer(1));
    let id = r.handle().id;
    let hi = Push::Operator("hi".into());
    assert_eq!(reg.push(id + 100, hi.clone()), Err(PushError::NoSuchClient(id + 100)));
    for _ in 1..PUSH_QUEUE {
        assert_eq!(reg.push(id, hi.clone()), Ok(()));
    }
    assert_eq!(reg.push(id, hi.clone()), Err(PushError::Full(id)), "every place but the stop's is taken");
    assert_eq!(r.handle().take_pushes().len(), PUSH_QUEUE - 1);
    assert_eq!(reg.push(id, hi.clone()), Ok(()), "taken: room again");
    let handle = Arc::clone(r.handle());
    drop(r); // the connection ends
    assert_eq!(handle.try_push(hi.clone()), Err(PushError::Gone(id)), "a handle kept past the end");
    let (r, _) = reg.register(peer(2));
    let id = r.handle().id;
    r.handle().stop_for(StopReason::Kicked);
    let (delivered, failed) = reg.push_all(&hi);
    assert_eq!((delivered, failed), (0, vec![PushError::Gone(id)]));
}

#[test]
fn kick_reaches_a_client_whose_queue_is_full() {
    let reg = Registry::new();
    // One place for pushes, one kept for the stop.
    let (r, _) = reg.register_with_queue(peer(1), 2);
    let (other, _) = reg.register(peer(2));
    let id = r.handle().id;
    reg.push(id, Push::Operator("fills the queue".into())).expect("queued");
    assert_eq!(reg.push(id, Push::Operator("no room".into())), Err(PushError::Full(id)));
    assert_eq!(reg.kick(id), Ok(()));
    assert_eq!(r.handle().stop_reason(), Some(StopReason::Kicked));
    let queued: Vec<_> = r.handle().take_pushes().into_iter().collect();
    assert!(matches!(queued[..], [Push::Operator(_), Push::Stop]), "the stop has its own place: {queued:?}");
    assert_eq!(reg.kick(id), Ok(()), "a second kick is harmless");
    assert!(r.handle().take_pushes().is_empty(), "and sends nothing more");
    assert!(r.handle().is_stopped(), "a write stuck on it gives up");
    assert!(!other.handle().is_stopped(), "a kick stops one client, not the others");
    assert_eq!(reg.kick(id + 100), Err(PushError::NoSuchClient(id + 100)));
}

#[test]
fn stop_all_tells_every_client_it_is_shutdown() {
    let reg = Registry::new();
    let regs: Vec<_> = (0..3).map(|i| reg.register(peer(i)).0).collect();
    reg.stop_all();
    for r in &regs {
        assert!(r.handle().is_stopped());
        assert!(matches!(r.handle().take_pushes().pop_front(), Some(Push::Stop)));
        assert_eq!(r.handle().stop_reason(), None, "no reason: shutdown");
    }
}

#[tokio::test]
async fn a_client_whose_task_panics_leaves_the_registry() {
    let reg = Registry::new();
    let task_reg = Arc::clone(&reg);
    let task = tokio::spawn(async move {
        let (_registration, _) = task_reg.register(peer(1));
        panic!("a bug in one connection");
    });
    assert!(task.await.expect_err("the task panicked").is_panic());
    assert!(reg.is_empty());
}

#[test]
fn the_newest_connection_with_a_name_wins() {
    let reg = Registry::new();
    let (old, _) = reg.register(peer(1));
    let (new, _) = reg.register(peer(2));
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
    let (r, _) = reg.register(peer(1));
    r.handle().set_name("esp-1".into());
    assert_eq!(reg.snapshot()[0].name.as_deref(), Some("esp-1"));
}
