//! The signature ceiling: how many JWT signatures one core makes per second with aws-lc-rs, with
//! the key parsed once — the bound of a token endpoint that signs one token per request.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::stats::round;

/// A signing input the size of an access token's (`header.claims`, about 450 bytes).
fn signing_input(alg: &str) -> String {
    let header =
        json!({"alg": alg, "typ": "at+jwt", "kid": "Zk9tR3hZc2JrX2FaV1ZxZ0NhZ1JjT2ZzS2xKVm9wQ"});
    let claims = json!({
        "iss": "http://127.0.0.1:8080",
        "sub": "01968f0e-7c3a-7b41-9d2e-5f0a1b2c3d4e",
        "aud": ["http://127.0.0.1:8080", "Qm8zS1ZrU2FtcGxlQ2xpZW50SWQ"],
        "client_id": "Qm8zS1ZrU2FtcGxlQ2xpZW50SWQ",
        "exp": 1_767_225_900,
        "iat": 1_767_225_600,
        "jti": "b3e1f0c2a9d84e7f8a6b5c4d3e2f1a0b",
        "scope": "openid profile email offline_access",
    });
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}", part(&header), part(&claims))
}

/// Signs in a tight loop on the calling thread for `duration`; one JSON line.
pub fn run(alg: &str, duration: Duration) -> anyhow::Result<Value> {
    let input = signing_input(alg);
    let rng = SystemRandom::new();
    let mut sign: Box<dyn FnMut() -> anyhow::Result<usize>> = match alg {
        "RS256" => {
            let key = RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| anyhow!("RSA key generation failed"))?;
            let mut sig = vec![0u8; key.public_modulus_len()];
            Box::new(move || {
                key.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
                    .map_err(|_| anyhow!("RS256 signing failed"))?;
                Ok(sig.len())
            })
        }
        "ES256" => {
            let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| anyhow!("P-256 key generation failed"))?;
            Box::new(move || {
                let sig = key
                    .sign(&rng, input.as_bytes())
                    .map_err(|_| anyhow!("ES256 signing failed"))?;
                Ok(sig.as_ref().len())
            })
        }
        other => return Err(anyhow!("no signature ceiling for {other}")),
    };
    // A short warm-up, then the measured loop, checking the clock every 16 signatures.
    let warm_until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < warm_until {
        sign()?;
    }
    let start = Instant::now();
    let mut ops: u64 = 0;
    while start.elapsed() < duration {
        for _ in 0..16 {
            sign()?;
        }
        ops += 16;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({
        "workload": "signature_ceiling",
        "alg": alg,
        "concurrency": 1,
        "duration_s": round(secs, 3),
        "ops": ops,
        "ops_per_s": round(ops as f64 / secs, 1),
        "signing_input_bytes": signing_input(alg).len(),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_algorithms_sign_and_count() {
        for alg in ["RS256", "ES256"] {
            let line = run(alg, Duration::from_millis(50)).unwrap();
            assert!(line["ops"].as_u64().unwrap() > 0, "{line}");
        }
        assert!(run("HS256", Duration::from_millis(1)).is_err());
    }
}
