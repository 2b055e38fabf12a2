//! `--workload argon2` (issue 21, sign-in storms): the CPU time of one argon2id hash at Latch's
//! parameters (m = 19 MiB, t = 2, p = 1, 32-byte tag) with each implementation the server has had,
//! each reusing its work area as the server does, in alternating rounds on the calling thread so
//! that the host's drift hits both alike; every round's tags must agree.
//!
//! CPU time is this process's (user + system, `/proc/self/stat`, 10 ms ticks): run it pinned
//! (`taskset -c 0`) with nothing else in the process busy, and long enough (≥ 10 s) for the
//! ticks not to matter.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde_json::{Value, json};

use crate::stats::{cpu_seconds, round};

const M_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const TAG: usize = 32;

type HashFn = Box<dyn FnMut(&[u8], &[u8]) -> anyhow::Result<[u8; TAG]>>;

/// RustCrypto's `argon2` with one reused `Vec<Block>` (the server until issue 21).
fn rustcrypto() -> anyhow::Result<HashFn> {
    use argon2::{Algorithm, Argon2, Block, Params, Version};
    let params = Params::new(M_KIB, PASSES, 1, Some(TAG)).map_err(|e| anyhow!("{e}"))?;
    let mut blocks = vec![Block::default(); params.block_count()];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    Ok(Box::new(move |password, salt| {
        let mut tag = [0u8; TAG];
        argon2
            .hash_password_into_with_memory(password, salt, &mut tag, blocks.as_mut_slice())
            .map_err(|e| anyhow!("{e}"))?;
        Ok(tag)
    }))
}

/// argon2-rust's `Hasher` (its arena reused), SIMD chosen at run time (the server since).
fn argon2_rust() -> anyhow::Result<HashFn> {
    use argon2_rust::params::{Memory, TagLen};
    let params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(M_KIB)))
        .passes(PASSES)
        .lanes(1)
        .tag_len(TagLen::bytes(TAG as u64))
        .build()
        .map_err(|e| anyhow!("{e:?}"))?;
    let mut hasher = argon2_rust::Argon2::new(
        argon2_rust::Algorithm::Argon2id,
        argon2_rust::Version::V0x13,
        params,
    )
    .hasher();
    Ok(Box::new(move |password, salt| {
        let mut tag = [0u8; TAG];
        hasher
            .hash_into(password, salt, &mut tag)
            .map_err(|e| anyhow!("{e:?}"))?;
        Ok(tag)
    }))
}

/// Alternating rounds of about a second each for `duration` in all; one JSON line per
/// implementation.
pub fn run(duration: Duration) -> anyhow::Result<Vec<Value>> {
    let backend = format!("{:?}", argon2_rust::detected_backend()).to_lowercase();
    let mut imps: Vec<(String, HashFn)> = vec![
        ("argon2 0.6 (RustCrypto)".to_owned(), rustcrypto()?),
        (format!("argon2-rust 1.1 ({backend})"), argon2_rust()?),
    ];
    let password = b"correct horse battery staple";
    let mut salt = [7u8; 16];
    let mut totals = vec![(0.0f64, 0u64); imps.len()];
    let rounds = (duration.as_secs_f64() / imps.len() as f64).ceil().max(1.0) as u64;
    // The first hash of each allocates its work area: not measured.
    for (_, hash) in &mut imps {
        hash(password, &salt)?;
    }
    for round in 0..rounds {
        salt[0] = round as u8;
        let mut tags = Vec::new();
        for (k, (_, hash)) in imps.iter_mut().enumerate() {
            let cpu0 = cpu_seconds("self").ok_or_else(|| anyhow!("no /proc/self/stat"))?;
            let until = Instant::now() + Duration::from_secs(1);
            let mut n = 0;
            let mut tag = [0u8; TAG];
            while n == 0 || Instant::now() < until {
                tag = hash(password, &salt)?;
                n += 1;
            }
            let cpu1 = cpu_seconds("self").ok_or_else(|| anyhow!("no /proc/self/stat"))?;
            totals[k].0 += cpu1 - cpu0;
            totals[k].1 += n;
            tags.push(tag);
        }
        if tags.iter().any(|t| *t != tags[0]) {
            bail!("the implementations disagree (round {round})");
        }
    }
    Ok(imps
        .iter()
        .zip(&totals)
        .map(|((name, _), (cpu, n))| {
            json!({
                "workload": "argon2",
                "implementation": name,
                "params": format!("m={M_KIB},t={PASSES},p=1"),
                "hashes": n,
                "cpu_s": round(*cpu, 2),
                "cpu_ms_per_hash": round(cpu * 1000.0 / *n as f64, 2),
            })
        })
        .collect())
}
