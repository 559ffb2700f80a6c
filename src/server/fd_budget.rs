//! How many clients fit under the process's file-descriptor limit. Each client holds one
//! descriptor (its socket) and the server keeps [`SPARE_FDS`] for everything else; a client
//! limit above what fits would leave the extra clients waiting in the kernel's accept queue
//! (`accept` failing with EMFILE) instead of being told the server is full. Pure arithmetic:
//! `cmd/serve.rs` reads and raises the limit.

/// Descriptors kept for everything but clients: standard input, output and error, the
/// listener, the runtime (epoll, wakers, signal pipes), the log, the readings store (database,
/// WAL, shared memory, lock file), the bridge's MQTT socket, files read on SIGHUP, clients
/// being turned away, and room to spare. A running server with a store holds about 15.
pub const SPARE_FDS: u64 = 64;

/// The descriptor limit that serves `max_clients` clients.
pub fn wanted(max_clients: usize) -> u64 {
    (max_clients as u64).saturating_add(SPARE_FDS)
}

/// What a descriptor limit leaves for clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRoom {
    /// Every client the client limit allows fits.
    All,
    /// Only this many fit, fewer than the client limit (at least one).
    Only(usize),
    /// Not one client fits.
    None,
}

/// How many of `max_clients` clients fit under a limit of `fd_limit` descriptors.
pub fn clients_within(fd_limit: u64, max_clients: usize) -> ClientRoom {
    let room = fd_limit.saturating_sub(SPARE_FDS);
    match usize::try_from(room) {
        Ok(0) => ClientRoom::None,
        Ok(room) if room < max_clients => ClientRoom::Only(room),
        _ => ClientRoom::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_get_what_the_spare_descriptors_leave() {
        let cases = [
            // (descriptor limit, client limit, room)
            (1_064, 1_000, ClientRoom::All),
            (1_048_576, 10_000, ClientRoom::All),
            (u64::MAX, 1_000_000, ClientRoom::All), // RLIM_INFINITY
            (1_063, 1_000, ClientRoom::Only(999)),
            (100, 1_000, ClientRoom::Only(36)),
            (65, 16, ClientRoom::Only(1)),
            (64, 16, ClientRoom::None),
            (40, 16, ClientRoom::None),
            (0, 1, ClientRoom::None),
        ];
        for (fd_limit, max_clients, want) in cases {
            assert_eq!(
                clients_within(fd_limit, max_clients),
                want,
                "{fd_limit} descriptors, {max_clients} clients"
            );
        }
        assert_eq!(wanted(1_000), 1_064);
        assert_eq!(wanted(usize::MAX), u64::MAX, "saturates");
    }
}
