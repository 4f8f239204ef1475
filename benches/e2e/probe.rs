//! Readings from /proc: a process's peak resident memory and CPU time, and the CPU time of every
//! process with a given name (Postgres runs one process per connection).

use std::sync::OnceLock;

/// Peak resident set size (VmHWM) of `pid`, in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmHWM:")
}

/// Resident set size (VmRSS) of `pid` now, in bytes.
pub fn current_rss(pid: u32) -> Option<u64> {
    status_bytes(pid, "VmRSS:")
}

fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User + system CPU seconds `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_seconds(pid, &[11, 12])
}

/// User + system CPU seconds of `pid`'s children that have exited and been waited for.
fn reaped_children_cpu_seconds(pid: u32) -> Option<f64> {
    stat_seconds(pid, &[13, 14])
}

/// The sum of the given fields of /proc/`pid`/stat, counted from the field after the process
/// name (state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12, cutime and
/// cstime at 13 and 14), in seconds.
fn stat_seconds(pid: u32, fields: &[usize]) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    let values: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = fields.iter().map(|&i| values.get(i)?.parse::<u64>().ok()).sum::<Option<u64>>()?;
    Some(ticks as f64 / clock_ticks())
}

/// CPU seconds used so far by every process named `name`, and by the children they reaped: a
/// Postgres connection closed during the run (the pool recycles them) still counts, through the
/// postmaster that waited for it.
pub fn cpu_seconds_named(name: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(|pid| Some(cpu_seconds(pid)? + reaped_children_cpu_seconds(pid).unwrap_or(0.0)))
        .sum()
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
