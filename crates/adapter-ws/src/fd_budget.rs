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
        let (soft_before, hard) = raise_soft_to_hard()?;
        let (soft, _) = limits()?;
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

/// An unlimited or absurd limit counts as "a lot" (2^30), so the cap
/// arithmetic never meets `u64::MAX`.
const A_LOT: u64 = 1 << 30;

/// (soft, hard) now.
#[cfg(unix)]
fn limits() -> Option<(u64, u64)> {
    let limit = get()?;
    Some((clamp(limit.rlim_cur), clamp(limit.rlim_max)))
}

/// Set the soft limit to the hard one (kept as the kernel gave it, unlimited
/// included); (soft before, hard). A refusal (an unlimited hard limit above
/// the kernel's `nr_open`) leaves the soft limit as it was.
#[cfg(unix)]
fn raise_soft_to_hard() -> Option<(u64, u64)> {
    let before = get()?;
    if before.rlim_cur < before.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: before.rlim_max,
            rlim_max: before.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass by pointer.
        let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    }
    Some((clamp(before.rlim_cur), clamp(before.rlim_max)))
}

#[cfg(unix)]
fn get() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we own and pass by pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some(limit)
}

#[cfg(unix)]
fn clamp(value: libc::rlim_t) -> u64 {
    if value == libc::RLIM_INFINITY {
        return A_LOT;
    }
    // rlim_t is u64 on the 64-bit targets and narrower on a few others:
    // the conversion is useless only where clippy looks.
    #[allow(clippy::useless_conversion)]
    let value = u64::try_from(value).unwrap_or(A_LOT);
    value.min(A_LOT)
}

#[cfg(not(unix))]
fn limits() -> Option<(u64, u64)> {
    None
}

#[cfg(not(unix))]
fn raise_soft_to_hard() -> Option<(u64, u64)> {
    None
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
