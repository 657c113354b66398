//! A job engine's CPU priority. Jobs spinning in a loop must not starve HTTP requests, and
//! the short slices of ordinary jobs must not wait behind everything else either: a job
//! engine's thread runs at normal priority and is lowered (nice +10) once a slice of JS has
//! used [`LONG_SLICE`] of CPU time (not of the clock's: a short slice kept waiting for the CPU
//! is not lowered for it), until the slice ends. Raising a thread's priority again needs
//! `CAP_SYS_NICE` or an `RLIMIT_NICE` that allows it; a process without either keeps its job
//! engines lowered for good, as before.
//!
//! Lowered for good, a drain's short jobs waited behind PostgreSQL's backends: about 15%
//! fewer db-insert jobs/s in `bench/pg.sh` and a longer enqueue→start tail.

use std::cell::Cell;
use std::time::Duration;

/// A slice of JS this long on a job engine is CPU-bound work: it gives way to requests.
pub const LONG_SLICE: Duration = Duration::from_millis(10);

/// How much a job engine's thread is lowered: from the process's own nice value (a flux
/// started with `nice` keeps its order between requests and jobs).
const LOWER_BY: i32 = 10;

/// The priority of one engine's thread, changed only from that thread.
#[derive(Default)]
pub struct Priority {
    /// Whether it is lowered during long slices only (else never, or for good).
    per_slice: bool,
    /// The nice values it runs at and is lowered to.
    normal: i32,
    lowered_to: i32,
    lowered: Cell<bool>,
    /// The thread's CPU time when the slice began.
    slice_cpu: Cell<Duration>,
}

impl Priority {
    /// For a job engine, on its own thread: lowered during long slices where the process may
    /// raise it again (tried now), else lowered for good.
    pub fn background() -> Priority {
        let normal = nice();
        let lowered_to = (normal + LOWER_BY).min(19);
        if !set_nice(lowered_to) {
            return Priority::default();
        }
        Priority {
            per_slice: set_nice(normal),
            normal,
            lowered_to,
            ..Priority::default()
        }
    }

    /// A slice of JS begins.
    pub fn slice_began(&self) {
        if self.per_slice {
            self.slice_cpu.set(thread_cpu());
        }
    }

    /// The slice has run for [`LONG_SLICE`] by the clock: lowered if it used that much CPU.
    pub fn slice_ran_long(&self) {
        if self.per_slice
            && !self.lowered.get()
            && thread_cpu().saturating_sub(self.slice_cpu.get()) >= LONG_SLICE
            && set_nice(self.lowered_to)
        {
            self.lowered.set(true);
        }
    }

    /// The slice ended.
    pub fn slice_ended(&self) {
        if self.lowered.get() && set_nice(self.normal) {
            self.lowered.set(false);
        }
    }
}

/// Sets the calling thread's nice value; whether it could.
#[cfg(target_os = "linux")]
fn set_nice(nice: i32) -> bool {
    // SAFETY: plain syscalls about the calling thread.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, thread_id(), nice) == 0 }
}

/// The calling thread's nice value.
#[cfg(target_os = "linux")]
fn nice() -> i32 {
    // SAFETY: plain syscalls about the calling thread. (-1 is also a nice value: the
    // probe that follows tells whether it could be changed at all.)
    unsafe { libc::getpriority(libc::PRIO_PROCESS, thread_id()) }
}

#[cfg(target_os = "linux")]
fn thread_id() -> libc::id_t {
    // SAFETY: a plain syscall with no arguments.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::id_t }
}

/// The CPU time the calling thread has used.
#[cfg(target_os = "linux")]
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the calling thread's CPU clock into `now`, which it owns.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now);
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn set_nice(_nice: i32) -> bool {
    false
}

#[cfg(not(target_os = "linux"))]
fn nice() -> i32 {
    0
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu() -> Duration {
    Duration::ZERO
}
