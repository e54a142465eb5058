//! The process's file-descriptor budget (`RLIMIT_NOFILE`): raised to the hard
//! limit at start, and turned into a cap on connections that leaves a reserve
//! for the server's own files (maps on disk, logs) and its backing-service
//! connections, so running out of descriptors is refused at the door instead
//! of failing an unrelated store read with EMFILE.

/// What the budget was and is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft limit found at start.
    pub soft_before: u64,
    /// The soft limit now (the hard limit, if raising it worked).
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
    /// Descriptors already open when the budget was taken.
    pub open_at_start: u64,
}

impl FdBudget {
    /// Raise the soft limit to the hard limit and report both. `None` where
    /// the limit cannot be read (not Unix); there, no cap is derived.
    pub fn raise() -> Option<FdBudget> {
        let (soft_before, hard) = limits()?;
        let soft = if soft_before < hard && set_soft(hard, hard) {
            hard
        } else {
            soft_before
        };
        Some(FdBudget {
            soft_before,
            soft,
            hard,
            open_at_start: open_descriptors(),
        })
    }

    /// Connections that fit: the soft limit less what is open already and
    /// `reserve` kept for everything else. At least 1, so a misconfigured
    /// reserve degrades to "almost nothing" rather than "nothing at all".
    pub fn connection_cap(&self, reserve: u64) -> usize {
        let free = self.soft.saturating_sub(self.open_at_start + reserve).max(1);
        usize::try_from(free).unwrap_or(usize::MAX)
    }
}

#[cfg(unix)]
fn limits() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we own and pass by pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then(|| (clamp(limit.rlim_cur), clamp(limit.rlim_max)))
}

#[cfg(unix)]
fn set_soft(soft: u64, hard: u64) -> bool {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit only reads the struct we pass by pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 }
}

/// `RLIM_INFINITY` and anything absurd count as "a lot", not as u64::MAX
/// (which would overflow the cap arithmetic's callers).
#[cfg(unix)]
fn clamp(value: libc::rlim_t) -> u64 {
    let value = value as u64;
    if value == libc::RLIM_INFINITY as u64 {
        1 << 30
    } else {
        value.min(1 << 30)
    }
}

#[cfg(not(unix))]
fn limits() -> Option<(u64, u64)> {
    None
}

#[cfg(not(unix))]
fn set_soft(_soft: u64, _hard: u64) -> bool {
    false
}

/// Descriptors open now (Linux: the entries of /proc/self/fd, less the one
/// reading it); 0 where that cannot be seen.
fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| (dir.count() as u64).saturating_sub(1))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_leaves_the_reserve_and_what_is_open() {
        let budget = FdBudget {
            soft_before: 1024,
            soft: 20_000,
            hard: 20_000,
            open_at_start: 20,
        };
        assert_eq!(budget.connection_cap(128), 20_000 - 20 - 128);
        assert_eq!(budget.connection_cap(50_000), 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn raising_ends_at_the_hard_limit() {
        let budget = FdBudget::raise().expect("Linux has RLIMIT_NOFILE");
        assert_eq!(budget.soft, budget.hard);
        assert!(budget.open_at_start > 0);
    }
}
