//! Links the `floe` command as a position-dependent executable on Linux (glibc).
//!
//! Why: the command is often a short-lived process (a writer per file or per task, a
//! shell loop of `floe append`), so its start-up counts. Built as a position-independent
//! executable (rustc's default), the binary, DataFusion included, carries ~236,000
//! relative relocations that the dynamic loader applies at every start, writing to about
//! a thousand pages of `.data.rel.ro` (copy-on-write faults): 4.5 of the 5.4 ms of
//! `floe --version` on the benchmark machine. Linked with `-no-pie` they are resolved
//! at link time: `floe --version` 4.55 → 1.55 ms, `floe stats` 5.9 → 3.25 ms, and a
//! one-row `floe append` process 11 → 7 ms (docs/benchmarks.md, "Where a single-row
//! append's time goes", item 9).
//!
//! The trade: the executable's own code and data load at a fixed address (shared
//! libraries, the stack and the heap are still randomised). Set `FLOE_CLI_PIE=1` when
//! building to keep the default position-independent executable (a distribution's
//! hardening policy, say). Other targets, and static builds, are left as rustc links
//! them.

fn main() {
    println!("cargo:rerun-if-env-changed=FLOE_CLI_PIE");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let keep_pie = std::env::var("FLOE_CLI_PIE").is_ok_and(|v| !v.is_empty() && v != "0");
    // A static build (`-C target-feature=+crt-static`) links as rustc decides.
    let static_crt = std::env::var("CARGO_CFG_TARGET_FEATURE").is_ok_and(|f| f.split(',').any(|f| f == "crt-static"));
    if os == "linux" && env == "gnu" && !keep_pie && !static_crt {
        println!("cargo:rustc-link-arg-bin=floe=-no-pie");
    }
}
